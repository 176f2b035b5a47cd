/** Type-checking lives in `npm run typecheck`; jest only strips types (swc), which keeps runs fast. */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: {
    "^.+\\.ts$": ["@swc/jest", { jsc: { parser: { syntax: "typescript" }, target: "es2022" }, module: { type: "commonjs" } }],
    // The ESM-only CRD model packages below, turned into CommonJS for jest.
    "^.+\\.js$": ["@swc/jest", { jsc: { parser: { syntax: "ecmascript" }, target: "es2022" }, module: { type: "commonjs" } }],
  },
  transformIgnorePatterns: ["/node_modules/(?!(@kubernetes-models|kubernetes-models|is-cidr|cidr-regex)/)"],
  resolver: "<rootDir>/test/esm-resolver.js",
  testTimeout: 30000,
};
