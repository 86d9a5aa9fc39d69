// The API docs page: Swagger UI over /openapi.json (served from this host; no CDN, no
// inline script, so it works under the console's Content-Security-Policy).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: false,
    persistAuthorization: false,
  });
});
