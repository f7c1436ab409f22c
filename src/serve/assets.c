/* The web page and the OpenAPI document, embedded at build time from
 * src/serve/assets/ (cmake/embed.cmake). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/server.h"

extern const char vg_asset_index_html[];
extern const char vg_asset_openapi_json[];

const char *vg_webpage_html(void) { return vg_asset_index_html; }

static void set_max(json_t *props, const char *key, int max) {
    json_t *p = json_object_get(props, key);
    if (json_is_object(p)) json_object_set_new(p, "maximum", json_integer(max));
    json_t *def = json_object_get(p, "default");
    if (json_is_integer(def) && json_integer_value(def) > max) json_object_del(p, "default");
}

char *vg_openapi_for(const vg_request_limits *lim, int max_body) {
    json_t *doc = json_loads(vg_asset_openapi_json, 0, NULL);
    json_t *in = json_object_get(json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"),
                                                 "Input"), "properties");
    set_max(in, "height", lim->max_height / 16 * 16);
    set_max(in, "width", lim->max_width / 16 * 16);
    set_max(in, "num_frames", lim->max_frames);
    set_max(in, "num_inference_steps", lim->max_steps);
    json_object_set_new(json_object_get(doc, "info"), "x-max-body-bytes", json_integer(max_body));
    char *text = doc ? json_dumps(doc, JSON_INDENT(1)) : NULL;
    json_decref(doc);
    return text ? text : strdup(vg_asset_openapi_json);
}
