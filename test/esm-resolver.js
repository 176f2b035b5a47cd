/**
 * The @kubernetes-models 2.x CRD packages (and the versions of kubernetes-models and
 * @kubernetes-models/* they import) publish only an `import` export, which jest's `require`
 * resolution cannot find: those requests are resolved again with `import`, and swc turns the files
 * into CommonJS (jest.config.js `transformIgnorePatterns`). Packages that have a `require` export
 * keep it.
 */
module.exports = (request, options) => {
  try {
    return options.defaultResolver(request, options);
  } catch (error) {
    if (!/(^|\/)(@kubernetes-models\/|kubernetes-models\/)/.test(`${request} ${options.basedir}`)) throw error;
    return options.defaultResolver(request, { ...options, conditions: ["import", "default"] });
  }
};
