/**
 * The Gateway API features nodeplane claims in GatewayClass `status.supportedFeatures` (names from the
 * specification's pkg/features/*.go), sorted as the API requires. docs/gateway.md lists how each is served
 * and tested; a feature is claimed only when the translator and the planes implement it.
 */
export const SUPPORTED_FEATURES: readonly string[] = [
  "GRPCRoute",
  "Gateway",
  "GatewayHTTPListenerIsolation",
  "GatewayPort8080",
  "GatewayStaticAddresses",
  "HTTPRoute",
  "HTTPRouteBackendProtocolH2C",
  "HTTPRouteBackendProtocolWebSocket",
  "HTTPRouteBackendTimeout",
  "HTTPRouteHostRewrite",
  "HTTPRouteMethodMatching",
  "HTTPRouteParentRefPort",
  "HTTPRoutePathRedirect",
  "HTTPRoutePathRewrite",
  "HTTPRoutePortRedirect",
  "HTTPRouteQueryParamMatching",
  "HTTPRouteRequestMirror",
  "HTTPRouteRequestTimeout",
  "HTTPRouteResponseHeaderModification",
  "HTTPRouteSchemeRedirect",
  "ReferenceGrant",
  "TCPRoute",
  "TLSRoute",
  "UDPRoute",
].sort();
