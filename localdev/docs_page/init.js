// The reference page of `make run`: Swagger UI on this stack's own /openapi.json.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // "Try it out" answers from this stack; admin operations need the app key (Authorize).
    tryItOutEnabled: false,
  });
});
