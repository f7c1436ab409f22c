/* The web page and the OpenAPI document, embedded at build time from
 * src/serve/assets/ (cmake/embed.cmake). */
#include "serve/server.h"

extern const char vg_asset_index_html[];
extern const char vg_asset_openapi_json[];

const char *vg_webpage_html(void) { return vg_asset_index_html; }
const char *vg_openapi_json(void) { return vg_asset_openapi_json; }
