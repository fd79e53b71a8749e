// Pure: pick the kernel modules (with their dependencies, in load order) that the guest must load itself.

/** Parses modules.dep ("path: dep dep ...") into module name -> {path, deps}. */
export function parseModulesDep(text: string): Map<string, { path: string; deps: string[] }> {
  const out = new Map<string, { path: string; deps: string[] }>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const modPath = line.slice(0, colon).trim();
    const deps = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    out.set(moduleName(modPath), { path: modPath, deps });
  }
  return out;
}

/** "kernel/drivers/virtio/virtio_pci.ko.xz" -> "virtio_pci" (dashes and underscores are one in module names). */
export function moduleName(modPath: string): string {
  const base = modPath.slice(modPath.lastIndexOf("/") + 1);
  return base.replace(/\.ko(\.(xz|gz|zst))?$/, "").replace(/-/g, "_");
}

/**
 * Module paths (relative to the modules dir) to load, dependencies first, for the wanted names.
 * Names that are not modules (built in, or absent) are skipped: the kernel either has them or cannot.
 */
export function resolveModuleLoadOrder(dep: Map<string, { path: string; deps: string[] }>, wanted: readonly string[]): string[] {
  const byPath = new Map<string, { path: string; deps: string[] }>();
  for (const v of dep.values()) byPath.set(v.path, v);
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (modPath: string) => {
    if (seen.has(modPath)) return;
    seen.add(modPath);
    for (const d of byPath.get(modPath)?.deps ?? []) visit(d);
    order.push(modPath);
  };
  for (const name of wanted) {
    const m = dep.get(name.replace(/-/g, "_"));
    if (m) visit(m.path);
  }
  return order;
}

/**
 * A package without modules.dep (Debian's linux-image ships none; depmod makes it at install time): its
 * modules.order ("kernel/drivers/block/virtio_blk.ko" per line) as a dependency map without dependencies.
 * Enough for modules whose dependencies are built in (virtio_blk on Debian's cloud kernels); init retries a
 * list that loads out of order and names what still fails.
 */
export function parseModulesOrder(text: string): Map<string, { path: string; deps: string[] }> {
  const out = new Map<string, { path: string; deps: string[] }>();
  for (const line of text.split("\n")) {
    const p = line.trim();
    if (p.endsWith(".ko")) out.set(moduleName(p), { path: p, deps: [] });
  }
  return out;
}
