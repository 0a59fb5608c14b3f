// kpr-sys.node: the few system calls Node has no binding for, and no well-kept npm
// package offers together with a prebuilt or headers-only build (fs-ext has flock
// but needs node-gyp and nan; none has setns). Each function is one call, synchronous,
// on the calling (main) thread; the policy around them lives in lib/syscalls.ts.
//   setns(fd)       setns(2) into a network namespace, for this thread only: a netlink
//                   socket or /proc/sys file opened meanwhile belongs to that netns.
//   tryLock(fd)     flock(2) LOCK_EX|LOCK_NB: true when taken, false when held elsewhere.
//   mallocTrim()    malloc_trim(3): give glibc's free heap pages back to the kernel.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <node_api.h>

static napi_value throw_errno(napi_env env, const char *syscall, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", syscall, strerror(err));
  napi_value code, text, error, no;
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, NULL, text, &error);
  napi_create_int32(env, err, &no);
  napi_set_named_property(env, error, "errno", no);
  napi_set_named_property(env, error, "syscall", code);
  napi_throw(env, error);
  return NULL;
}

static int fd_arg(napi_env env, napi_callback_info info, int32_t *fd) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a file descriptor");
    return 0;
  }
  return 1;
}

static napi_value do_setns(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!fd_arg(env, info, &fd)) return NULL;
  if (setns(fd, CLONE_NEWNET) != 0) return throw_errno(env, "setns", errno);
  return NULL;
}

static napi_value do_try_lock(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!fd_arg(env, info, &fd)) return NULL;
  int r;
  do r = flock(fd, LOCK_EX | LOCK_NB); while (r != 0 && errno == EINTR);
  if (r != 0 && errno != EWOULDBLOCK) return throw_errno(env, "flock", errno);
  napi_value taken;
  napi_get_boolean(env, r == 0, &taken);
  return taken;
}

static napi_value do_malloc_trim(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value released;
  napi_get_boolean(env, malloc_trim(0) == 1, &released);
  return released;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "setns", NULL, do_setns, NULL, NULL, NULL, napi_enumerable, NULL },
    { "tryLock", NULL, do_try_lock, NULL, NULL, NULL, napi_enumerable, NULL },
    { "mallocTrim", NULL, do_malloc_trim, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE_INIT() { return init(env, exports); }
