// `kharness rootfs build|list|prune`: the cached Debian root filesystem images that `run --rootfs debian` boots
// (docs/rootfs.md).

import type { Exec } from "./exec/exec.js";
import { X86_64 } from "./qemu/profiles.js";
import {
  DEFAULT_MIRROR,
  DEFAULT_PACKAGES,
  DEFAULT_SUITE,
  debianArch,
  ensureBaseImage,
  listBaseImages,
  parsePackageList,
  pruneBaseImages,
  rootfsKey,
  type RootfsSpec,
} from "./rootfs/image.js";

export interface RootfsCommand {
  action: "build" | "list" | "prune";
  suite?: string;
  packages?: string;
  mirror?: string;
  json: boolean;
  all: boolean;
}

/** Sizes in MiB: images are hundreds of them. */
function mib(n: number): string {
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

/** The image `run --rootfs debian` boots. */
export function defaultRootfsSpec(): RootfsSpec {
  return { suite: DEFAULT_SUITE, arch: debianArch(X86_64.arch), packages: [...DEFAULT_PACKAGES].sort(), mirror: DEFAULT_MIRROR };
}

/** Runs the command, writing to out; errors are thrown (cli.ts prints them and picks the exit code). */
export async function runRootfsCommand(
  cmd: RootfsCommand,
  deps: { exec: Exec; cacheRoot: string; signal?: AbortSignal },
  out: { write(s: string): unknown },
): Promise<number> {
  const dflt = defaultRootfsSpec();
  if (cmd.action === "build") {
    const spec: RootfsSpec = {
      suite: cmd.suite ?? dflt.suite,
      arch: dflt.arch,
      packages: cmd.packages !== undefined ? parsePackageList(cmd.packages) : dflt.packages,
      mirror: cmd.mirror ?? dflt.mirror,
    };
    const started = Date.now();
    const got = await ensureBaseImage(spec, {
      ...deps,
      onProgress: (e) => {
        if (e.kind === "info") out.write(`${e.message}\n`);
      },
    });
    out.write(
      got.built
        ? `built ${got.image} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`
        : `already built: ${got.image} (${got.meta.suite}, ${got.meta.packages.join(",")})\n`,
    );
    return 0;
  }
  if (cmd.action === "list") {
    const items = await listBaseImages(deps.cacheRoot);
    const defaultKey = rootfsKey(dflt);
    if (cmd.json) {
      out.write(
        `${JSON.stringify(
          items.map((i) => ({ ...i, default: i.meta.key === defaultKey })),
          null,
          2,
        )}\n`,
      );
      return 0;
    }
    for (const i of items)
      out.write(
        `${i.meta.key}${i.meta.key === defaultKey ? " (default)" : ""}  ${mib(i.sizeBytes).padStart(10)}  ${i.meta.suite}/${i.meta.arch}  built ${i.meta.builtAt} in ${(i.meta.buildMs / 1000).toFixed(1)} s\n          ${i.meta.packages.join(",")}\n          ${i.image}\n`,
      );
    out.write(`${items.length} image${items.length === 1 ? "" : "s"}\n`);
    return 0;
  }
  const { removed, freedBytes } = await pruneBaseImages(deps.cacheRoot, cmd.all ? undefined : rootfsKey(dflt));
  for (const r of removed) out.write(`removed ${r}\n`);
  out.write(`removed ${removed.length}, freed ${mib(freedBytes)}\n`);
  return 0;
}
