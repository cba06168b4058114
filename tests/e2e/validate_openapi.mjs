// Validates an OpenAPI 3 document (path or URL) with swagger-parser: the structure against the
// OpenAPI schema, and every $ref resolved. Exit 0 when valid.
import SwaggerParser from "@apidevtools/swagger-parser";

const source = process.argv[2];
try {
  const api = await SwaggerParser.validate(source);
  console.log(`valid OpenAPI ${api.openapi}: ${Object.keys(api.paths).length} paths`);
} catch (err) {
  console.error(`invalid: ${err.message}`);
  process.exit(1);
}
