/*
 * Gives the C heap's free pages back to the system: glibc's malloc_trim(0).
 *
 * A live stream's teardown frees its decoders, scalers, encoders and model
 * runs, allocated by many threads (FFmpeg's, ONNX Runtime's, libuv's), so in
 * many of glibc's per-thread arenas. glibc returns an arena's free memory to
 * the system only from its top, so after the stream the process kept most of
 * it: RSS climbed with each publish/disconnect cycle while the live heap
 * stayed small (issue #28; bench/churn.ts measures both). malloc_trim(0)
 * releases the free pages inside every arena too.
 *
 * It runs on the libuv pool: it walks every arena, holding each one's lock
 * in turn. Elsewhere than glibc it does nothing and resolves false.
 */
#include <node_api.h>
#include <stdbool.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  bool released;
} Trim;

static void execute(napi_env env, void *data) {
  (void)env;
  Trim *trim = (Trim *)data;
#ifdef __GLIBC__
  trim->released = malloc_trim(0) == 1;
#else
  trim->released = false;
#endif
}

static void complete(napi_env env, napi_status status, void *data) {
  (void)status;
  Trim *trim = (Trim *)data;
  napi_value released;
  napi_get_boolean(env, trim->released, &released);
  napi_resolve_deferred(env, trim->deferred, released);
  napi_delete_async_work(env, trim->work);
  free(trim);
}

/* trim(): Promise<boolean>, true when memory was given back. */
static napi_value trim_js(napi_env env, napi_callback_info info) {
  (void)info;
  Trim *trim = calloc(1, sizeof *trim);
  if (!trim) {
    napi_throw_error(env, NULL, "trim: out of memory");
    return NULL;
  }
  napi_value promise, name;
  napi_create_promise(env, &trim->deferred, &promise);
  napi_create_string_utf8(env, "frc.heapTrim", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, trim, &trim->work);
  napi_queue_async_work(env, trim->work);
  return promise;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "trim", NAPI_AUTO_LENGTH, trim_js, NULL, &fn);
  napi_set_named_property(env, exports, "trim", fn);
  return exports;
}
