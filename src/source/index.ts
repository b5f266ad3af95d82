import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Source } from "./source.ts";

/** The manifests folder when --manifests is given, else the Kubernetes API. */
export async function createSource(config: Config, logger: Logger): Promise<Source> {
  if (config.manifests) {
    const { ManifestsSource } = await import("./manifests/source.ts");
    return new ManifestsSource(config, logger);
  }
  const { KubeSource } = await import("./kube/source.ts");
  return new KubeSource(config, logger);
}
