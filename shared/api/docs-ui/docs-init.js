// Starts Swagger UI on the API's own OpenAPI document, fetched from this origin. A file, not
// an inline script, so the page's Content-Security-Policy can stay `script-src 'self'`.
"use strict";

window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis],
  plugins: [SwaggerUIBundle.plugins.DownloadUrl],
  // No top bar: it only offers loading another document.
  layout: "BaseLayout",
  deepLinking: true,
  // The default sends the document to a validator on another host (a badge image).
  validatorUrl: null,
  // Never load another document or configuration named in the page's query string.
  queryConfigEnabled: false,
  displayOperationId: true,
  displayRequestDuration: true,
  // "Try it out" calls this origin (the document's server is "/"): nothing to authorize
  // across origins, and a pasted token is forgotten with the page.
  persistAuthorization: false,
  withCredentials: false,
});
