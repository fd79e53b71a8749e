// Test support: a validator for KCIDB submissions against kcidb-io's v5.3 JSON Schema (harness/report/testdata/).
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { Ajv } from "ajv";
import addFormatsModule from "ajv-formats";
import { REPO_ROOT } from "../../harness/repo-root.js";

export const KCIDB_SCHEMA_FILE = path.join(REPO_ROOT, "harness", "report", "testdata", "kcidb-v5.3.schema.json");

/** Validates a parsed document; returns the schema errors, one line each (empty when it is valid). */
export function kcidbSchemaErrors(): (doc: unknown) => string[] {
  // strict: an unknown keyword in the schema file is an error, so a schema ajv only half understands cannot pass.
  const ajv = new Ajv({ allErrors: true, strict: true });
  const addFormats = addFormatsModule as unknown as (a: Ajv) => Ajv;
  addFormats(ajv);
  const validate = ajv.compile(JSON.parse(readFileSync(KCIDB_SCHEMA_FILE, "utf8")) as object);
  return (doc) => (validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message ?? ""} ${JSON.stringify(e.params)}`));
}
