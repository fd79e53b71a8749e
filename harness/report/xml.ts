// XML text helpers: escaping and removal of the characters XML 1.0 forbids.

// Control characters other than tab/newline/CR, lone surrogates, and U+FFFE/U+FFFF are not allowed in XML 1.0.
const FORBIDDEN = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Removes characters XML 1.0 cannot carry, even escaped. */
export function stripXmlForbidden(text: string): string {
  // Most text is printable ASCII; skip the costly scan for it.
  return SAFE_ASCII.test(text) ? text : text.replace(FORBIDDEN, "");
}

const SAFE_ASCII = /^[\x20-\x7E\t\n\r]*$/;
const SPECIAL = /[&<>"']/;

/** Escapes text for an XML attribute or element body. */
export function escapeXml(text: string): string {
  const clean = stripXmlForbidden(text);
  if (!SPECIAL.test(clean)) return clean;
  return clean.replace(/[&<>"']/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&apos;"));
}
