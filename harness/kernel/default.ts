// The packaged default kernel (installed into the cache by scripts/setup.mjs) and user-given images (--kernel).

import { promises as fs } from "node:fs";
import * as path from "node:path";
import { UsageError } from "../errors.js";
import { exists, readHead } from "../exec/cache.js";
import type { KernelImage } from "../types.js";
import { inspectKernelImage } from "./bzimage.js";
import type { ArchProfile } from "../qemu/profiles.js";

/** What setup records about the default kernel (cache/kernels/default.json). */
export interface DefaultKernelRecord {
  package: string;
  version: string;
  release: string;
  vmlinuz: string;
  config: string;
  modulesDir: string;
}

export function defaultKernelRecordPath(cacheRoot: string): string {
  return path.join(cacheRoot, "kernels", "default.json");
}

/** The default kernel, or a UsageError saying how to install it. */
export async function resolveDefaultKernel(cacheRoot: string): Promise<KernelImage> {
  const recPath = defaultKernelRecordPath(cacheRoot);
  let rec: DefaultKernelRecord;
  try {
    rec = JSON.parse(await fs.readFile(recPath, "utf8")) as DefaultKernelRecord;
  } catch {
    throw new UsageError(`the default kernel is not installed (no ${recPath})`, {
      fix: "run `npm run setup` (installs Debian's 6.12 cloud kernel into the cache), or pass --kernel PATH",
    });
  }
  if (!(await exists(rec.vmlinuz)))
    throw new UsageError(`the default kernel record points at a missing file: ${rec.vmlinuz}`, { fix: "run `npm run setup` again to reinstall it" });
  return {
    path: rec.vmlinuz,
    release: rec.release,
    configPath: rec.config,
    modulesDir: (await exists(rec.modulesDir)) ? rec.modulesDir : undefined,
    source: "default",
  };
}

/**
 * A user's kernel image: checks that it is a kernel for the profile's architecture (today: an x86 bzImage header) and finds its config and modules when they sit
 * where a package or a build tree puts them (ROOT/boot/vmlinuz-R -> ROOT/boot/config-R, ROOT/lib/modules/R;
 * a build tree's arch/ARCH/boot/IMAGE -> ../../../.config).
 */
export async function resolveImageKernel(file: string, profile: ArchProfile): Promise<KernelImage> {
  const abs = path.resolve(file);
  const built = profile.kernelImage.pathInBuild;
  let st;
  try {
    st = await fs.stat(abs);
  } catch {
    throw new UsageError(`--kernel ${file}: no such file`, { fix: `pass the path of a built kernel image (e.g. ${built}) or a vmlinuz from a kernel package` });
  }
  if (!st.isFile())
    throw new UsageError(`--kernel ${file}: not a regular file`, { fix: "pass the kernel image file itself, not a directory (for a source tree use --tree)" });
  const kind = inspectKernelImage(await readHead(abs, 64 * 1024));
  switch (kind.kind) {
    case "not-a-kernel":
      throw new UsageError(`--kernel ${file}: not a kernel image (no x86 boot header)`, {
        fix: `pass ${built} from a build, or /boot/vmlinuz-* from a kernel package`,
      });
    case "other-arch":
      throw new UsageError(`--kernel ${file}: a kernel for ${kind.arch}, but this run boots ${profile.arch}`, {
        fix: `pass an ${profile.arch} kernel image (${built} from a build)`,
      });
    case "elf-vmlinux":
      throw new UsageError(`--kernel ${file}: an ELF file (${kind.machine}), not a bootable kernel image`, { fix: `pass ${built} rather than vmlinux` });
    case "bzImage":
      if (!kind.is64) throw new UsageError(`--kernel ${file}: a 32-bit x86 kernel`, { fix: `pass an ${profile.arch} kernel image (${built} from a build)` });
  }
  const release = kind.release;
  const dir = path.dirname(abs);
  const configCandidates = [release ? path.join(dir, `config-${release}`) : "", path.join(dir, "..", "..", "..", ".config"), path.join(dir, ".config")].filter(
    Boolean,
  );
  let configPath: string | undefined;
  for (const c of configCandidates)
    if (await exists(c)) {
      configPath = c;
      break;
    }
  let modulesDir: string | undefined;
  if (release) {
    for (const m of [path.join(dir, "..", "lib", "modules", release), path.join("/lib/modules", release)]) {
      if (await exists(path.join(m, "modules.dep"))) {
        modulesDir = path.resolve(m);
        break;
      }
    }
  }
  return { path: abs, release, configPath, modulesDir, source: "image" };
}
