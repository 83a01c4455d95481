#!/usr/bin/env node
// asyncapi.mjs: validates an AsyncAPI document with @asyncapi/parser, for
// the Go test internal/apispec TestAsyncAPIValid.
//
// Usage: node asyncapi.mjs DOCUMENT.json
//
// It prints one JSON line: {"version","channels":[addresses],
// "operations":N,"errors":[...],"warnings":[...]}, and exits 1 when the
// parser reports an error (severity 0) or cannot build the document.

import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const text = readFileSync(process.argv[2], "utf8");
const parser = new Parser();
const { document, diagnostics } = await parser.parse(text);
const say = (d) => `${d.code}: ${d.message} at ${(d.path || []).join(".")}`;
const errors = diagnostics.filter((d) => d.severity === 0).map(say);
const warnings = diagnostics.filter((d) => d.severity === 1).map(say);
const out = { version: "", channels: [], operations: 0, errors, warnings };
if (document) {
  out.version = document.version();
  out.channels = document.channels().all().map((c) => c.address());
  out.operations = document.operations().all().length;
} else if (errors.length === 0) {
  errors.push("no document");
}
process.stdout.write(JSON.stringify(out) + "\n");
process.exitCode = errors.length === 0 ? 0 : 1;
