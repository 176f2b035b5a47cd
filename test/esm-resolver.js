/**
 * The @kubernetes-models 2.x packages (and what they import) publish only an `import` export, which
 * jest's CommonJS resolution cannot pick: a request that fails to resolve as usual is resolved again
 * with `import`, and swc turns those files into CommonJS (jest.config.js `transformIgnorePatterns`).
 * Everything that resolves as usual is left alone: kubernetes-models 4.x, which the Kubernetes schema
 * checks load in the same test, also has an `import` entry (.mjs) that must not be picked.
 */
module.exports = (request, options) => {
  try {
    return options.defaultResolver(request, options);
  } catch (error) {
    if (request.startsWith(".") || request.startsWith("/")) throw error;
    return options.defaultResolver(request, { ...options, conditions: ["import", "default"] });
  }
};
