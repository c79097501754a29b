/*
 * An SRT listener for publishers (OBS: srt://host:port?streamid=publish:KEY),
 * on libsrt: FFmpeg's SRT listener cannot tell which streamid a caller sent.
 *
 * Every SRT call runs on threads of this file or of libsrt, never on the
 * JavaScript thread: the JavaScript side only sets flags, so it can never
 * wait on a lock libsrt holds while libsrt waits on it (the handshake below
 * does wait on JavaScript). What happens reaches JavaScript through one
 * thread-safe function per listener, as events:
 *
 *   ask(streamid, address)  during the handshake; the callback's return value
 *                           is 0 to accept or an SRT rejection code (1400+).
 *                           libsrt's receiving thread waits for it, at most
 *                           ASK_WAIT_MS, so that a wrong key is refused in the
 *                           handshake, with its reason, rather than accepted
 *                           and dropped.
 *   accept(id, streamid, address)   a caller is connected.
 *   data(id, bytes)         one SRT message: a few MPEG-TS packets.
 *   end(id, reason)         the connection is gone (closed here, or by the peer).
 *
 * Threads: one accepts (polling the listener, so that stopping needs no call
 * into libsrt from JavaScript), one per connection receives. The
 * thread-safe function holds one reference per thread; the last thread out
 * frees it, which frees the listener.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <srt/srt.h>
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ASK_WAIT_MS 1000
#define POLL_MS 200
#define MAX_CONNECTIONS 256
#define MAX_QUEUED_EVENTS 4096
#define PAYLOAD_MAX 1500
#define REJECT_OVERLOAD 1402
#define REJECT_DOWN 1503

typedef enum { EV_ASK, EV_ACCEPT, EV_DATA, EV_END } EventType;

/* A handshake waiting on JavaScript: owned by the waiting thread and by the queued call, freed by the last. */
typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t answered;
  int verdict;
  bool done;
  int owners;
} Ask;

typedef struct {
  EventType type;
  int id;
  char *text;    /* ask/accept: the streamid; end: the reason */
  char address[64];
  char *bytes;   /* data */
  size_t length;
  Ask *ask;
} Event;

typedef struct Listener Listener;

typedef struct {
  Listener *listener;
  SRTSOCKET socket;
  atomic_bool close_requested;
  atomic_bool used;
} Connection;

struct Listener {
  SRTSOCKET socket;
  napi_threadsafe_function tsfn;
  atomic_bool stopping;
  pthread_t accept_thread;
  Connection connections[MAX_CONNECTIONS];
};

static void ask_release(Ask *ask) {
  pthread_mutex_lock(&ask->lock);
  bool last = --ask->owners == 0;
  pthread_mutex_unlock(&ask->lock);
  if (last) {
    pthread_mutex_destroy(&ask->lock);
    pthread_cond_destroy(&ask->answered);
    free(ask);
  }
}

static void free_event(Event *event) {
  if (event->ask) ask_release(event->ask);
  free(event->text);
  free(event->bytes);
  free(event);
}

static void format_address(const struct sockaddr *addr, char *out, size_t size) {
  out[0] = '\0';
  if (!addr) return;
  if (addr->sa_family == AF_INET) {
    inet_ntop(AF_INET, &((const struct sockaddr_in *)addr)->sin_addr, out, (socklen_t)size);
  } else if (addr->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)addr)->sin6_addr, out, (socklen_t)size);
  }
}

/* Runs on the JavaScript thread: hands one event to the callback. */
static void call_js(napi_env env, napi_value callback, void *context, void *data) {
  (void)context;
  Event *event = (Event *)data;
  int verdict = REJECT_DOWN;
  if (env && callback) {
    static const char *names[] = {"ask", "accept", "data", "end"};
    napi_value argv[4], undefined, result;
    napi_get_undefined(env, &undefined);
    napi_create_string_utf8(env, names[event->type], NAPI_AUTO_LENGTH, &argv[0]);
    napi_create_int32(env, event->id, &argv[1]);
    argv[2] = undefined;
    argv[3] = undefined;
    switch (event->type) {
      case EV_ASK:
      case EV_ACCEPT:
        napi_create_string_utf8(env, event->text ? event->text : "", NAPI_AUTO_LENGTH, &argv[2]);
        napi_create_string_utf8(env, event->address, NAPI_AUTO_LENGTH, &argv[3]);
        break;
      case EV_DATA:
        napi_create_buffer_copy(env, event->length, event->bytes, NULL, &argv[2]);
        break;
      case EV_END:
        napi_create_string_utf8(env, event->text ? event->text : "", NAPI_AUTO_LENGTH, &argv[2]);
        break;
    }
    if (napi_call_function(env, undefined, callback, 4, argv, &result) == napi_ok && event->type == EV_ASK) {
      int32_t answer;
      if (napi_get_value_int32(env, result, &answer) == napi_ok) verdict = answer;
    } else {
      /* A throwing callback must not become an uncaught exception from here; the caller is refused instead. */
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) {
        napi_value ignored;
        napi_get_and_clear_last_exception(env, &ignored);
      }
    }
  }
  if (event->ask) {
    pthread_mutex_lock(&event->ask->lock);
    event->ask->verdict = verdict;
    event->ask->done = true;
    pthread_cond_signal(&event->ask->answered);
    pthread_mutex_unlock(&event->ask->lock);
  }
  free_event(event);
}

static bool post(Listener *listener, Event *event, napi_threadsafe_function_call_mode mode) {
  if (napi_call_threadsafe_function(listener->tsfn, event, mode) == napi_ok) return true;
  free_event(event);
  return false;
}

static void post_end(Listener *listener, int id, const char *reason) {
  Event *event = calloc(1, sizeof *event);
  if (!event) return;
  event->type = EV_END;
  event->id = id;
  event->text = strdup(reason);
  post(listener, event, napi_tsfn_blocking);
}

/* libsrt's handshake hook, on libsrt's receiving thread: JavaScript decides, within ASK_WAIT_MS. */
static int on_handshake(void *opaque, SRTSOCKET ns, int hsversion, const struct sockaddr *peer, const char *streamid) {
  (void)hsversion;
  Listener *listener = (Listener *)opaque;
  if (atomic_load(&listener->stopping)) {
    srt_setrejectreason(ns, REJECT_DOWN);
    return -1;
  }
  Ask *ask = calloc(1, sizeof *ask);
  Event *event = calloc(1, sizeof *event);
  if (!ask || !event) {
    free(ask);
    free(event);
    srt_setrejectreason(ns, REJECT_OVERLOAD);
    return -1;
  }
  pthread_mutex_init(&ask->lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&ask->answered, &attr);
  pthread_condattr_destroy(&attr);
  ask->owners = 2;
  event->type = EV_ASK;
  event->id = (int)ns;
  event->text = strdup(streamid ? streamid : "");
  format_address(peer, event->address, sizeof event->address);
  event->ask = ask;
  /* Never blocks libsrt's thread on a full queue: a flooded server refuses. */
  if (!post(listener, event, napi_tsfn_nonblocking)) {
    ask_release(ask);
    srt_setrejectreason(ns, REJECT_OVERLOAD);
    return -1;
  }
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += ASK_WAIT_MS / 1000;
  deadline.tv_nsec += (long)(ASK_WAIT_MS % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&ask->lock);
  while (!ask->done) {
    if (pthread_cond_timedwait(&ask->answered, &ask->lock, &deadline) == ETIMEDOUT) break;
  }
  int verdict = ask->done ? ask->verdict : REJECT_OVERLOAD;
  pthread_mutex_unlock(&ask->lock);
  ask_release(ask);
  if (verdict == 0) return 0;
  srt_setrejectreason(ns, verdict >= SRT_REJC_PREDEFINED ? verdict : REJECT_DOWN);
  return -1;
}

static void *receive(void *data) {
  Connection *connection = (Connection *)data;
  Listener *listener = connection->listener;
  SRTSOCKET socket = connection->socket;
  const char *reason = "disconnected";
  char why[200];
  char buffer[PAYLOAD_MAX];
  for (;;) {
    if (atomic_load(&connection->close_requested)) {
      reason = "closed";
      break;
    }
    if (atomic_load(&listener->stopping)) {
      reason = "server closed";
      break;
    }
    int n = srt_recvmsg(socket, buffer, sizeof buffer);
    if (n == SRT_ERROR) {
      int code = srt_getlasterror(NULL);
      /* The receive timeout only lets the flags above be read. */
      if (code == SRT_EASYNCRCV || code == SRT_ETIMEOUT) continue;
      if (code != SRT_ECONNLOST && code != SRT_EINVSOCK) {
        snprintf(why, sizeof why, "receive failed: %s", srt_getlasterror_str());
        reason = why;
      }
      break;
    }
    if (n <= 0) continue;
    Event *event = calloc(1, sizeof *event);
    char *bytes = malloc((size_t)n);
    if (!event || !bytes) {
      free(event);
      free(bytes);
      reason = "out of memory";
      break;
    }
    memcpy(bytes, buffer, (size_t)n);
    event->type = EV_DATA;
    event->id = (int)socket;
    event->bytes = bytes;
    event->length = (size_t)n;
    /* A full queue makes this thread wait; libsrt then drops what comes too late, as live mode does. */
    if (!post(listener, event, napi_tsfn_blocking)) break;
  }
  srt_close(socket);
  post_end(listener, (int)socket, reason);
  atomic_store(&connection->used, false);
  napi_release_threadsafe_function(listener->tsfn, napi_tsfn_release);
  return NULL;
}

static void *accept_loop(void *data) {
  Listener *listener = (Listener *)data;
  int poll = srt_epoll_create();
  int events = SRT_EPOLL_IN | SRT_EPOLL_ERR;
  srt_epoll_add_usock(poll, listener->socket, &events);
  while (!atomic_load(&listener->stopping)) {
    SRTSOCKET ready[1];
    int readyCount = 1;
    if (srt_epoll_wait(poll, ready, &readyCount, NULL, NULL, POLL_MS, NULL, NULL, NULL, NULL) <= 0) continue;
    struct sockaddr_storage peer;
    int peerLength = sizeof peer;
    SRTSOCKET socket = srt_accept(listener->socket, (struct sockaddr *)&peer, &peerLength);
    if (socket == SRT_INVALID_SOCK) continue;
    Connection *connection = NULL;
    for (int i = 0; i < MAX_CONNECTIONS && !connection; i++) {
      bool expected = false;
      if (atomic_compare_exchange_strong(&listener->connections[i].used, &expected, true)) connection = &listener->connections[i];
    }
    if (!connection) {
      srt_close(socket);
      continue;
    }
    connection->listener = listener;
    connection->socket = socket;
    atomic_store(&connection->close_requested, false);
    int timeout = POLL_MS;
    srt_setsockflag(socket, SRTO_RCVTIMEO, &timeout, sizeof timeout);
    Event *event = calloc(1, sizeof *event);
    if (!event) {
      srt_close(socket);
      atomic_store(&connection->used, false);
      continue;
    }
    char streamid[600] = "";
    int streamidLength = sizeof streamid - 1;
    if (srt_getsockflag(socket, SRTO_STREAMID, streamid, &streamidLength) == 0) streamid[streamidLength] = '\0';
    event->type = EV_ACCEPT;
    event->id = (int)socket;
    event->text = strdup(streamid);
    format_address((struct sockaddr *)&peer, event->address, sizeof event->address);
    /* Announced before any of its data, which its own thread sends. */
    post(listener, event, napi_tsfn_blocking);
    napi_acquire_threadsafe_function(listener->tsfn);
    pthread_t thread;
    if (pthread_create(&thread, NULL, receive, connection) != 0) {
      srt_close(socket);
      post_end(listener, (int)socket, "no thread");
      atomic_store(&connection->used, false);
      napi_release_threadsafe_function(listener->tsfn, napi_tsfn_release);
      continue;
    }
    pthread_detach(thread);
  }
  srt_epoll_release(poll);
  /* Closing the listener ends its handshakes before the thread-safe function they use can go. */
  srt_close(listener->socket);
  napi_release_threadsafe_function(listener->tsfn, napi_tsfn_release);
  return NULL;
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static Listener *listener_of(napi_env env, napi_value value) {
  Listener *listener = NULL;
  napi_get_value_external(env, value, (void **)&listener);
  return listener;
}

/*
 * listen(host, port, latencyMs, onEvent): { handle, port }, or throws why not.
 * Binds and listens here (so a taken port fails at once), then accepts on a
 * thread of its own.
 */
static napi_value listen_js(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char host[64] = "";
  size_t hostLength = 0;
  int32_t port = 0, latency = 120;
  if (argc < 4 || napi_get_value_string_utf8(env, argv[0], host, sizeof host, &hostLength) != napi_ok || napi_get_value_int32(env, argv[1], &port) != napi_ok ||
      napi_get_value_int32(env, argv[2], &latency) != napi_ok) {
    napi_throw_type_error(env, NULL, "listen(host, port, latencyMs, onEvent)");
    return NULL;
  }
  struct sockaddr_storage address;
  memset(&address, 0, sizeof address);
  int addressLength;
  if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&address)->sin_addr) == 1) {
    ((struct sockaddr_in *)&address)->sin_family = AF_INET;
    ((struct sockaddr_in *)&address)->sin_port = htons((uint16_t)port);
    addressLength = sizeof(struct sockaddr_in);
  } else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&address)->sin6_addr) == 1) {
    ((struct sockaddr_in6 *)&address)->sin6_family = AF_INET6;
    ((struct sockaddr_in6 *)&address)->sin6_port = htons((uint16_t)port);
    addressLength = sizeof(struct sockaddr_in6);
  } else {
    napi_throw_error(env, "EADDRNOTAVAIL", "listen: the host must be an IP address");
    return NULL;
  }
  SRTSOCKET socket = srt_create_socket();
  if (socket == SRT_INVALID_SOCK) {
    napi_throw_error(env, NULL, srt_getlasterror_str());
    return NULL;
  }
  int live = SRTT_LIVE;
  srt_setsockflag(socket, SRTO_TRANSTYPE, &live, sizeof live);
  srt_setsockflag(socket, SRTO_RCVLATENCY, &latency, sizeof latency);
  srt_setsockflag(socket, SRTO_LATENCY, &latency, sizeof latency);
  if (srt_bind(socket, (struct sockaddr *)&address, addressLength) == SRT_ERROR) {
    int code = srt_getlasterror(NULL);
    int sys = 0;
    srt_getlasterror(&sys);
    srt_close(socket);
    napi_throw_error(env, sys == EADDRINUSE || code == SRT_EDUPLISTEN ? "EADDRINUSE" : sys == EACCES ? "EACCES" : NULL, srt_strerror(code, sys));
    return NULL;
  }
  Listener *listener = calloc(1, sizeof *listener);
  if (!listener) {
    srt_close(socket);
    napi_throw_error(env, NULL, "listen: out of memory");
    return NULL;
  }
  listener->socket = socket;
  napi_value name;
  napi_create_string_utf8(env, "frc.srtListener", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[3], NULL, name, MAX_QUEUED_EVENTS, 1, listener, finalize, NULL, call_js, &listener->tsfn) != napi_ok) {
    srt_close(socket);
    free(listener);
    napi_throw_error(env, NULL, "listen: cannot make the thread-safe function");
    return NULL;
  }
  if (srt_listen_callback(socket, on_handshake, listener) == SRT_ERROR || srt_listen(socket, MAX_CONNECTIONS) == SRT_ERROR) {
    const char *why = srt_getlasterror_str();
    napi_throw_error(env, NULL, why);
    srt_close(socket);
    napi_release_threadsafe_function(listener->tsfn, napi_tsfn_abort);
    return NULL;
  }
  struct sockaddr_storage bound;
  int boundLength = sizeof bound;
  int boundPort = port;
  if (srt_getsockname(socket, (struct sockaddr *)&bound, &boundLength) == 0)
    boundPort = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port : ((struct sockaddr_in *)&bound)->sin_port);
  if (pthread_create(&listener->accept_thread, NULL, accept_loop, listener) != 0) {
    srt_close(socket);
    napi_release_threadsafe_function(listener->tsfn, napi_tsfn_abort);
    napi_throw_error(env, NULL, "listen: cannot start the accepting thread");
    return NULL;
  }
  pthread_detach(listener->accept_thread);
  napi_value result, handle, portValue;
  napi_create_object(env, &result);
  napi_create_external(env, listener, NULL, NULL, &handle);
  napi_create_int32(env, boundPort, &portValue);
  napi_set_named_property(env, result, "handle", handle);
  napi_set_named_property(env, result, "port", portValue);
  return result;
}

/* close(handle, id): asks the connection's thread to close it; its end event follows. */
static napi_value close_js(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t id = -1;
  Listener *listener = argc >= 2 ? listener_of(env, argv[0]) : NULL;
  if (!listener || napi_get_value_int32(env, argv[1], &id) != napi_ok) return NULL;
  for (int i = 0; i < MAX_CONNECTIONS; i++) {
    Connection *connection = &listener->connections[i];
    if (atomic_load(&connection->used) && connection->socket == id) atomic_store(&connection->close_requested, true);
  }
  return NULL;
}

/*
 * stop(handle): no more callers; every connection ends ("server closed").
 * The listener is freed once the last of its threads is gone; the handle
 * must not be used after this.
 */
static napi_value stop_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Listener *listener = argc >= 1 ? listener_of(env, argv[0]) : NULL;
  if (listener) atomic_store(&listener->stopping, true);
  return NULL;
}

NAPI_MODULE_INIT() {
  srt_startup();
  srt_setloglevel(2); /* LOG_CRIT: libsrt's own stderr lines would drown the server's */
  napi_value fn;
  napi_create_function(env, "listen", NAPI_AUTO_LENGTH, listen_js, NULL, &fn);
  napi_set_named_property(env, exports, "listen", fn);
  napi_create_function(env, "close", NAPI_AUTO_LENGTH, close_js, NULL, &fn);
  napi_set_named_property(env, exports, "close", fn);
  napi_create_function(env, "stop", NAPI_AUTO_LENGTH, stop_js, NULL, &fn);
  napi_set_named_property(env, exports, "stop", fn);
  return exports;
}
