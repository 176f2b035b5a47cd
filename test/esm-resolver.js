/**
 * The @kubernetes-models 2.x packages (and what they import) publish only an `import` export:
 * jest resolves with `require`, so those requests resolve with `import` here and swc turns the
 * files into CommonJS (jest.config.js `transformIgnorePatterns`).
 */
const ESM_ONLY = /(^|\/node_modules\/)@kubernetes-models\//;

module.exports = (request, options) => {
  if (ESM_ONLY.test(request) || ESM_ONLY.test(options.basedir)) {
    return options.defaultResolver(request, { ...options, conditions: ["import", "default"] });
  }
  return options.defaultResolver(request, options);
};
