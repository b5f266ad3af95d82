/** The service proxy plane (plane.ts). */
export {
  bindFailure,
  createServicePlane,
  type ListenerStatus,
  ServicePlane,
  type ServicePlaneConfig,
  type ServicePlaneOptions,
} from "./plane.ts";
