/* The compiled fast path of serialize.SocketJsonEncoder.encode (optional: the pure-Python one gives the same bytes).
 *
 * encoder(socket_class, plan, owner_class, tcp_info_class, encoded, shared, processes, namespaces, now,
 * tcp_info_json, extensions_json, container_json, fallback, layered_class, layered) -> encode(sock) -> bytes: the
 * JSON object of one socket record, its keys in `plan` order. `plan` holds (name, kind, extra) per key: the
 * record's attribute `name` (a slot of socket_class; none for CONTAINER) written as `kind` says:
 *   PLAIN      an int as NUMBER writes it, else encoded[value] (`encoded` computes and keeps each distinct value's
 *              JSON)
 *   NUMBER     null, or the integer
 *   OWNERS     [{"pid":..,"fd":..,"name":encoded[processes[pid].name or None]}, ...] (Owner records of owner_class;
 *              `extra` names the three keys)
 *   TCP_INFO   null, or tcp_info_json(value.raw, moved) (value of tcp_info_class): moved the clocks' milliseconds
 *              (see records.clocks_moved); tcp_info_json may instead be the compiled layout of _struct_json, which
 *              this encoder then writes itself
 *   TIMER      null, or {"name":encoded[name],"expires_ms":..,"retrans":..} (`extra` names the keys), its countdown
 *              run down by moved unless its name is "off" (see records.timer_at)
 *   RECORD     null, or {"<extra[0]>":..,...}: a tuple of integers named by the tuple of names `extra`
 *   EXTENSIONS extensions_json(value); a shared mapping's (a mappingproxy) is looked up first in `shared`, the
 *              Python encoder's own cache of them by identity (id -> (mapping, JSON)), which extensions_json fills;
 *              a layered one's (of layered_class: its slots `shared` and `raw`) first in `layered`, the Python
 *              encoder's cache of them by (id(shared), type, raw), which extensions_json fills
 *   CONTAINER  container_json(container): the container of its first owner's process (`processes[pid].container`)
 *              that has one, else that of its network namespace (`namespaces[sock.netns_inode].container`), each
 *              distinct one encoded once (see snapshot.socket_container)
 * A record of another class than socket_class is encoded by calling fallback(sock) instead. `now` is the
 * snapshot's monotonic time, or None (no clocks moved).
 *
 * write(encode, sockets, start, stop, fd) writes the JSON objects of sockets[start:stop] with such an encode function,
 * comma-separated, to a file descriptor.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "../../backends/slot_offset.h"
#include "../../backends/struct_json.h"
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define CAPSULE_NAME "netwatch.socket_json.encoder"
#define WRITE_CHUNK (1 << 20) /* bytes write() gathers before each system call */
#define PREFETCH_STEP 2 /* write() prefetches what a record points to this many records ahead, its fields twice as \
                           far, itself thrice (1 to 4 measured alike) */
enum { PLAIN, NUMBER, OWNERS, TCP_INFO, TIMER, RECORD, EXTENSIONS, CONTAINER, KINDS };

typedef struct {
    char *key; /* "name": */
    Py_ssize_t key_len, offset;
    int kind;
    PyObject *names; /* OWNERS, TIMER, RECORD: the keys of their values ("name": each), a tuple of bytes */
    PyObject *last, *last_json; /* PLAIN: the value seen last and its JSON (consecutive sockets repeat many) */
} Field;

typedef struct {
    Py_ssize_t count;
    Field *fields;
    PyTypeObject *socket_type;
    Py_ssize_t observed_offset, pid_offset, fd_offset, raw_offset, owners_offset, netns_offset;
    Py_ssize_t layered_shared_offset, layered_raw_offset;
    PyObject *owner_type, *tcp_info_type, *shared, *containers, *encoded, *processes, *namespaces;
    PyTypeObject *layered_type;
    PyObject *layered;
    PyObject *container_attribute, *tcp_info_json, *extensions_json, *container_json, *fallback;
    const StructLayout *tcp_info_layout; /* tcp_info_json's, when it is a compiled layout (else NULL) */
    PyObject *name_attribute;
    double now;
    int has_now;
    char *buffer;
    Py_ssize_t size, used;
} Encoder;

static void free_encoder(PyObject *capsule) {
    Encoder *e = PyCapsule_GetPointer(capsule, CAPSULE_NAME);
    if (e == NULL)
        return;
    for (Py_ssize_t i = 0; i < e->count; i++) {
        PyMem_Free(e->fields[i].key);
        Py_XDECREF(e->fields[i].names);
        Py_XDECREF(e->fields[i].last);
        Py_XDECREF(e->fields[i].last_json);
    }
    PyMem_Free(e->fields);
    Py_XDECREF(e->socket_type);
    Py_XDECREF(e->owner_type);
    Py_XDECREF(e->tcp_info_type);
    Py_XDECREF(e->shared);
    Py_XDECREF(e->containers);
    Py_XDECREF(e->namespaces);
    Py_XDECREF(e->container_attribute);
    Py_XDECREF(e->encoded);
    Py_XDECREF(e->processes);
    Py_XDECREF(e->tcp_info_json);
    Py_XDECREF(e->extensions_json);
    Py_XDECREF(e->container_json);
    Py_XDECREF(e->fallback);
    Py_XDECREF(e->name_attribute);
    Py_XDECREF(e->layered_type);
    Py_XDECREF(e->layered);
    PyMem_Free(e->buffer);
    PyMem_Free(e);
}

/* ---- output ---- */

static int reserve(Encoder *e, Py_ssize_t more) {
    if (e->used + more <= e->size)
        return 0;
    Py_ssize_t size = e->size ? e->size : 4096;
    while (size < e->used + more)
        size *= 2;
    char *grown = PyMem_Realloc(e->buffer, (size_t)size);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    e->buffer = grown;
    e->size = size;
    return 0;
}

static int put(Encoder *e, const char *text, Py_ssize_t length) {
    if (reserve(e, length) < 0)
        return -1;
    memcpy(e->buffer + e->used, text, (size_t)length);
    e->used += length;
    return 0;
}

#define PUT_LITERAL(e, text) put(e, text, (Py_ssize_t)sizeof(text) - 1)

/* bytes (or anything with the buffer protocol) as they are */
static int put_bytes(Encoder *e, PyObject *value) {
    if (PyBytes_Check(value))
        return put(e, PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value));
    PyErr_Format(PyExc_TypeError, "a JSON encoding must be bytes, not %.100s", Py_TYPE(value)->tp_name);
    return -1;
}

/* An integer in decimal, as b"%d" % value writes it. */
static int put_integer(Encoder *e, PyObject *value) {
    char digits[32];
    int overflow = 0;
    long long number = PyLong_Check(value) ? PyLong_AsLongLongAndOverflow(value, &overflow) : -1;
    if (PyLong_Check(value) && !overflow && !(number == -1 && PyErr_Occurred())) {
        unsigned long long magnitude = number < 0 ? 0ULL - (unsigned long long)number : (unsigned long long)number;
        digits[0] = '-';
        return put(e, digits, write_decimal(digits + (number < 0), magnitude) - digits);
    }
    PyErr_Clear();
    PyObject *index = PyNumber_Index(value); /* b"%d" accepts what has __index__ */
    if (index == NULL)
        return -1;
    PyObject *text = PyObject_Str(index);
    Py_DECREF(index);
    if (text == NULL)
        return -1;
    Py_ssize_t length;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &length);
    int result = utf8 == NULL ? -1 : put(e, utf8, length);
    Py_DECREF(text);
    return result;
}

static int put_encoded(Encoder *e, PyObject *value) {
    PyObject *json = PyObject_GetItem(e->encoded, value);
    if (json == NULL)
        return -1;
    int result = put_bytes(e, json);
    Py_DECREF(json);
    return result;
}

static int put_called(Encoder *e, PyObject *function, PyObject *argument, PyObject *second) {
    PyObject *json = second == NULL ? PyObject_CallOneArg(function, argument)
                                    : PyObject_CallFunctionObjArgs(function, argument, second, NULL);
    if (json == NULL)
        return -1;
    int result = put_bytes(e, json);
    Py_DECREF(json);
    return result;
}

/* ---- fields ---- */

static inline PyObject *slot(PyObject *object, Py_ssize_t offset) { return *(PyObject **)((char *)object + offset); }

static long long clocks_moved(Encoder *e, PyObject *sock) {
    PyObject *observed = slot(sock, e->observed_offset);
    if (!e->has_now || observed == NULL || observed == Py_None)
        return 0;
    double at = PyFloat_AsDouble(observed);
    if (at == -1.0 && PyErr_Occurred())
        return -1;
    return e->now <= at ? 0 : (long long)((e->now - at) * 1000);
}

static int put_owners(Encoder *e, PyObject *owners, PyObject *keys) {
    if (!PyTuple_Check(owners)) {
        PyErr_SetString(PyExc_TypeError, "owners must be a tuple");
        return -1;
    }
    if (PUT_LITERAL(e, "[") < 0)
        return -1;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(owners); i++) {
        PyObject *owner = PyTuple_GET_ITEM(owners, i);
        if ((PyObject *)Py_TYPE(owner) != e->owner_type) {
            PyErr_SetString(PyExc_TypeError, "an owner must be an Owner record");
            return -1;
        }
        PyObject *pid = slot(owner, e->pid_offset), *fd = slot(owner, e->fd_offset);
        if (pid == NULL || fd == NULL) {
            PyErr_SetString(PyExc_AttributeError, "an owner without its pid or fd");
            return -1;
        }
        PyObject *process = PyDict_GetItemWithError(e->processes, pid); /* borrowed */
        if (process == NULL && PyErr_Occurred())
            return -1;
        PyObject *name = process == NULL ? Py_NewRef(Py_None) : PyObject_GetAttr(process, e->name_attribute);
        if (name == NULL)
            return -1;
        int failed = (i && PUT_LITERAL(e, ",") < 0) || PUT_LITERAL(e, "{") < 0 ||
                     put_bytes(e, PyTuple_GET_ITEM(keys, 0)) < 0 || put_integer(e, pid) < 0 ||
                     PUT_LITERAL(e, ",") < 0 || put_bytes(e, PyTuple_GET_ITEM(keys, 1)) < 0 ||
                     put_integer(e, fd) < 0 || PUT_LITERAL(e, ",") < 0 || put_bytes(e, PyTuple_GET_ITEM(keys, 2)) < 0 ||
                     put_encoded(e, name) < 0 || PUT_LITERAL(e, "}") < 0;
        Py_DECREF(name);
        if (failed)
            return -1;
    }
    return PUT_LITERAL(e, "]");
}

static int put_timer(Encoder *e, PyObject *timer, PyObject *keys, long long moved) {
    if (!PyTuple_Check(timer) || PyTuple_GET_SIZE(timer) != 3) {
        PyErr_SetString(PyExc_TypeError, "a timer must be (name, expires_ms, retrans)");
        return -1;
    }
    PyObject *name = PyTuple_GET_ITEM(timer, 0), *expires = PyTuple_GET_ITEM(timer, 1);
    PyObject *left = NULL;
    if (moved && PyUnicode_Check(name) && PyUnicode_CompareWithASCIIString(name, "off") != 0) {
        long long value = PyLong_AsLongLong(expires);
        if (value == -1 && PyErr_Occurred())
            return -1;
        left = PyLong_FromLongLong(value > moved ? value - moved : 0);
        if (left == NULL)
            return -1;
        expires = left;
    }
    int failed = PUT_LITERAL(e, "{") < 0 || put_bytes(e, PyTuple_GET_ITEM(keys, 0)) < 0 || put_encoded(e, name) < 0 ||
                 PUT_LITERAL(e, ",") < 0 || put_bytes(e, PyTuple_GET_ITEM(keys, 1)) < 0 ||
                 put_integer(e, expires) < 0 || PUT_LITERAL(e, ",") < 0 ||
                 put_bytes(e, PyTuple_GET_ITEM(keys, 2)) < 0 || put_integer(e, PyTuple_GET_ITEM(timer, 2)) < 0 ||
                 PUT_LITERAL(e, "}") < 0;
    Py_XDECREF(left);
    return failed ? -1 : 0;
}

static int put_record(Encoder *e, PyObject *record, PyObject *names) {
    Py_ssize_t count = PyTuple_GET_SIZE(names);
    if (!PyTuple_Check(record) || PyTuple_GET_SIZE(record) != count) {
        PyErr_SetString(PyExc_TypeError, "a record must be a tuple of its fields");
        return -1;
    }
    for (Py_ssize_t i = 0; i < count; i++)
        if (put(e, i ? "," : "{", 1) < 0 || put_bytes(e, PyTuple_GET_ITEM(names, i)) < 0 ||
            put_integer(e, PyTuple_GET_ITEM(record, i)) < 0)
            return -1;
    return PUT_LITERAL(e, "}");
}

/* JSON kept by the identity of the object it encodes (`cache`: id -> (object, JSON)), else json_of(object). */
static int put_by_identity(Encoder *e, PyObject *cache, PyObject *object, PyObject *json_of) {
    PyObject *id = PyLong_FromVoidPtr(object);
    if (id == NULL)
        return -1;
    PyObject *known = PyDict_GetItemWithError(cache, id); /* borrowed */
    if (known != NULL && PyTuple_GET_ITEM(known, 0) == object) {
        Py_DECREF(id);
        return put_bytes(e, PyTuple_GET_ITEM(known, 1));
    }
    PyObject *json = PyErr_Occurred() ? NULL : PyObject_CallOneArg(json_of, object);
    PyObject *entry = json == NULL ? NULL : PyTuple_Pack(2, object, json);
    int result = entry == NULL || PyDict_SetItem(cache, id, entry) < 0 ? -1 : put_bytes(e, json);
    Py_XDECREF(entry);
    Py_XDECREF(json);
    Py_DECREF(id);
    return result;
}

/* The container of `holder` (a Process or a Namespace, NULL: none), a new reference (None: none), or NULL. */
static PyObject *container_of(Encoder *e, PyObject *holder) {
    return holder == NULL ? Py_NewRef(Py_None) : PyObject_GetAttr(holder, e->container_attribute);
}

static int put_container(Encoder *e, PyObject *sock) {
    PyObject *owners = slot(sock, e->owners_offset), *container = NULL;
    for (Py_ssize_t i = 0; owners != NULL && PyTuple_Check(owners) && i < PyTuple_GET_SIZE(owners); i++) {
        PyObject *owner = PyTuple_GET_ITEM(owners, i);
        PyObject *pid = (PyObject *)Py_TYPE(owner) == e->owner_type ? slot(owner, e->pid_offset) : NULL;
        PyObject *process = pid == NULL ? NULL : PyDict_GetItemWithError(e->processes, pid);
        if ((container = container_of(e, process)) == NULL)
            return -1;
        if (container != Py_None)
            break;
        Py_CLEAR(container);
    }
    if (container == NULL) {
        PyObject *netns = slot(sock, e->netns_offset);
        PyObject *namespace = netns == NULL || netns == Py_None ? NULL : PyObject_GetItem(e->namespaces, netns);
        if (namespace == NULL && netns != NULL && netns != Py_None) {
            if (!PyErr_ExceptionMatches(PyExc_KeyError))
                return -1;
            PyErr_Clear();
        }
        container = container_of(e, namespace);
        Py_XDECREF(namespace);
        if (container == NULL)
            return -1;
    }
    int result = container == Py_None ? PUT_LITERAL(e, "null") : put_by_identity(e, e->containers, container,
                                                                                  e->container_json);
    Py_DECREF(container);
    return result;
}

static int put_plain(Encoder *e, Field *field, PyObject *value) {
    if (PyLong_CheckExact(value)) /* as encoded[value] writes it; distinct numbers (ports) would fill the cache */
        return put_integer(e, value);
    if (value != field->last) {
        PyObject *json = PyObject_GetItem(e->encoded, value);
        if (json == NULL)
            return -1;
        Py_XSETREF(field->last_json, json);
        Py_XSETREF(field->last, Py_NewRef(value));
    }
    return put_bytes(e, field->last_json);
}

/* A layered mapping's JSON as the Python encoder cached it (borrowed), or NULL (an error set, or not cached). */
static PyObject *cached_layered(Encoder *e, PyObject *extensions) {
    PyObject *shared = slot(extensions, e->layered_shared_offset), *raw = slot(extensions, e->layered_raw_offset);
    if (shared == NULL || raw == NULL)
        return NULL;
    PyObject *key = Py_BuildValue("(NOO)", PyLong_FromVoidPtr(shared), (PyObject *)Py_TYPE(extensions), raw);
    if (key == NULL)
        return NULL;
    PyObject *json = PyDict_GetItemWithError(e->layered, key);
    Py_DECREF(key);
    return json;
}

static int put_extensions(Encoder *e, PyObject *extensions) {
    if (PyObject_TypeCheck(extensions, e->layered_type)) {
        PyObject *json = cached_layered(e, extensions);
        if (json != NULL)
            return put_bytes(e, json);
        if (PyErr_Occurred())
            return -1;
    }
    if (!Py_IS_TYPE(extensions, &PyDictProxy_Type))
        return put_called(e, e->extensions_json, extensions, NULL);
    return put_by_identity(e, e->shared, extensions, e->extensions_json);
}

static int put_field(Encoder *e, Field *field, PyObject *sock, long long moved) {
    if (field->kind == CONTAINER)
        return put_container(e, sock);
    PyObject *value = slot(sock, field->offset);
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "a socket record without one of its fields");
        return -1;
    }
    if (value == Py_None && field->kind != PLAIN && field->kind != EXTENSIONS)
        return PUT_LITERAL(e, "null");
    switch (field->kind) {
    case PLAIN:
        return put_plain(e, field, value);
    case NUMBER:
        return put_integer(e, value);
    case OWNERS:
        return put_owners(e, value, field->names);
    case TCP_INFO: {
        PyObject *raw = (PyObject *)Py_TYPE(value) == e->tcp_info_type ? slot(value, e->raw_offset) : NULL;
        if (raw == NULL) {
            PyErr_SetString(PyExc_TypeError, "tcp_info must be a TcpInfo record");
            return -1;
        }
        if (e->tcp_info_layout != NULL && PyBytes_Check(raw) && PyBytes_GET_SIZE(raw) >= e->tcp_info_layout->min_raw) {
            if (reserve(e, e->tcp_info_layout->max_out) < 0)
                return -1;
            char *start = e->buffer + e->used;
            e->used += write_struct(e->tcp_info_layout, (const unsigned char *)PyBytes_AS_STRING(raw), moved, start) -
                       start;
            return 0;
        }
        if (e->tcp_info_layout != NULL) {
            PyErr_SetString(PyExc_ValueError, "a tcp_info too short for its layout");
            return -1;
        }
        PyObject *number = PyLong_FromLongLong(moved);
        if (number == NULL)
            return -1;
        int result = put_called(e, e->tcp_info_json, raw, number);
        Py_DECREF(number);
        return result;
    }
    case TIMER:
        return put_timer(e, value, field->names, moved);
    case RECORD:
        return put_record(e, value, field->names);
    default: /* EXTENSIONS */
        return put_extensions(e, value);
    }
}

/* Append the JSON object of `sock` to the buffer; a record of another class by calling the fallback. */
static int put_socket(Encoder *e, PyObject *sock) {
    if (Py_TYPE(sock) != e->socket_type) {
        PyObject *json = PyObject_CallOneArg(e->fallback, sock);
        int result = json == NULL ? -1 : put_bytes(e, json);
        Py_XDECREF(json);
        return result;
    }
    long long moved = clocks_moved(e, sock);
    if (moved < 0)
        return -1;
    for (Py_ssize_t i = 0; i < e->count; i++) {
        Field *field = &e->fields[i];
        if (put(e, i ? "," : "{", 1) < 0 || put(e, field->key, field->key_len) < 0 ||
            put_field(e, field, sock, moved) < 0)
            return -1;
    }
    return PUT_LITERAL(e, "}");
}

static PyObject *encode(PyObject *capsule, PyObject *sock) {
    Encoder *e = PyCapsule_GetPointer(capsule, CAPSULE_NAME);
    if (e == NULL)
        return NULL;
    e->used = 0;
    return put_socket(e, sock) < 0 ? NULL : PyBytes_FromStringAndSize(e->buffer, e->used);
}

static PyMethodDef encode_method = {"encode", (PyCFunction)encode, METH_O, "encode(sock) -> its JSON object"};

/* Write the buffer to `fd` whole (the GIL released meanwhile) and empty it. */
static int flush(Encoder *e, int fd) {
    Py_ssize_t done = 0;
    while (done < e->used) {
        ssize_t written;
        Py_BEGIN_ALLOW_THREADS
        written = write(fd, e->buffer + done, (size_t)(e->used - done));
        Py_END_ALLOW_THREADS
        if (written < 0) {
            if (errno == EINTR && PyErr_CheckSignals() == 0)
                continue;
            if (!PyErr_Occurred())
                PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        done += written;
    }
    e->used = 0;
    return 0;
}

/* Ask the CPU for what encoding `sock` reads, before it does (the records lie all over the heap: waiting for memory
 * was most of the encoding): `depth` 2 the record, 1 its fields' objects, 0 what those point to (the tcp_info's
 * bytes, the owners). */
static void prefetch(Encoder *e, PyObject *sock, int depth) {
    if (depth == 2) {
        __builtin_prefetch(sock);
        __builtin_prefetch((char *)sock + 64);
        return;
    }
    if (Py_TYPE(sock) != e->socket_type)
        return;
    for (Py_ssize_t i = 0; i < e->count; i++) {
        Field *field = &e->fields[i];
        PyObject *value = field->kind == CONTAINER ? NULL : slot(sock, field->offset);
        if (value == NULL || value == Py_None)
            continue;
        if (depth == 1) {
            __builtin_prefetch(value);
        } else if (field->kind == TCP_INFO && (PyObject *)Py_TYPE(value) == e->tcp_info_type) {
            PyObject *raw = slot(value, e->raw_offset);
            for (int line = 0; raw != NULL && line < 6; line++)
                __builtin_prefetch((char *)raw + 64 * line);
        } else if (field->kind == OWNERS && PyTuple_Check(value) && PyTuple_GET_SIZE(value)) {
            __builtin_prefetch(PyTuple_GET_ITEM(value, 0));
        }
    }
}

/* write(encode, sockets, start, stop, fd): the JSON objects of sockets[start:stop] (a list), comma-separated, written
 * to fd a chunk at a time. A record is read where it lies, no reference taken to it (a forked child writing half of
 * a list copies none of the pages of the records it reads, see once.py), but for one encoded by the fallback. */
static PyObject *write_objects(PyObject *self, PyObject *args) {
    PyObject *function, *sockets;
    Py_ssize_t start, stop;
    int fd;
    if (!PyArg_ParseTuple(args, "OO!nni", &function, &PyList_Type, &sockets, &start, &stop, &fd))
        return NULL;
    if (!PyCFunction_Check(function) || PyCFunction_GET_FUNCTION(function) != (PyCFunction)encode) {
        PyErr_SetString(PyExc_TypeError, "write() takes an encode function made by encoder()");
        return NULL;
    }
    Encoder *e = PyCapsule_GetPointer(PyCFunction_GET_SELF(function), CAPSULE_NAME);
    if (e == NULL)
        return NULL;
    e->used = 0;
    for (Py_ssize_t i = start; i < stop && i < PyList_GET_SIZE(sockets); i++) {
        PyObject *sock = PyList_GET_ITEM(sockets, i);
        for (int depth = 0; depth <= 2; depth++) {
            Py_ssize_t ahead = i + PREFETCH_STEP * (depth + 1);
            if (ahead < stop && ahead < PyList_GET_SIZE(sockets))
                prefetch(e, PyList_GET_ITEM(sockets, ahead), depth);
        }
        int fallback = Py_TYPE(sock) != e->socket_type; /* Python code runs: the record must stay alive */
        if (fallback)
            Py_INCREF(sock);
        int failed = (i > start && PUT_LITERAL(e, ",") < 0) || put_socket(e, sock) < 0 ||
                     (e->used >= WRITE_CHUNK && flush(e, fd) < 0);
        if (fallback)
            Py_DECREF(sock);
        if (failed)
            return NULL;
    }
    if (flush(e, fd) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* ---- making an encoder ---- */

static int make_field(Field *field, PyObject *item, PyObject *socket_class) {
    const char *name;
    PyObject *extra;
    if (!PyArg_ParseTuple(item, "siO", &name, &field->kind, &extra))
        return -1;
    if (field->kind < 0 || field->kind >= KINDS) {
        PyErr_Format(PyExc_ValueError, "unknown kind %d", field->kind);
        return -1;
    }
    size_t length = strlen(name);
    field->key = PyMem_Malloc(length + 3);
    if (field->key == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    field->key[0] = '"';
    memcpy(field->key + 1, name, length);
    memcpy(field->key + 1 + length, "\":", 2);
    field->key_len = (Py_ssize_t)length + 3;
    if (field->kind == OWNERS || field->kind == TIMER || field->kind == RECORD) {
        if (!PyTuple_Check(extra) || (field->kind != RECORD && PyTuple_GET_SIZE(extra) != 3)) {
            PyErr_SetString(PyExc_TypeError, "an OWNERS, TIMER or RECORD field needs the tuple of its keys");
            return -1;
        }
        field->names = PyTuple_New(PyTuple_GET_SIZE(extra));
        if (field->names == NULL)
            return -1;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(extra); i++) {
            PyObject *name = PyTuple_GET_ITEM(extra, i);
            const char *text = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
            PyObject *key = text == NULL ? NULL : PyBytes_FromFormat("\"%s\":", text);
            if (key == NULL) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_TypeError, "keys must be text");
                return -1;
            }
            PyTuple_SET_ITEM(field->names, i, key);
        }
    }
    if (field->kind != CONTAINER && (field->offset = slot_offset((PyTypeObject *)socket_class, name)) < 0)
        return -1;
    return 0;
}

static PyObject *encoder(PyObject *self, PyObject *args) {
    PyObject *socket_class, *plan, *owner_class, *tcp_info_class, *encoded, *shared, *processes, *namespaces, *now,
        *tcp_info_json, *extensions_json, *container_json, *fallback, *layered_class, *layered;
    if (!PyArg_ParseTuple(args, "O!O!O!O!OO!O!OOOOOOO!O!", &PyType_Type, &socket_class, &PyTuple_Type, &plan,
                          &PyType_Type, &owner_class, &PyType_Type, &tcp_info_class, &encoded, &PyDict_Type, &shared,
                          &PyDict_Type, &processes, &namespaces, &now, &tcp_info_json, &extensions_json,
                          &container_json, &fallback, &PyType_Type, &layered_class, &PyDict_Type, &layered))
        return NULL;
    PyTypeObject *sockets = (PyTypeObject *)socket_class, *owners = (PyTypeObject *)owner_class;
    PyObject *function;
    Encoder *e = PyMem_Calloc(1, sizeof(Encoder));
    if (e == NULL)
        return PyErr_NoMemory();
    PyObject *capsule = PyCapsule_New(e, CAPSULE_NAME, free_encoder);
    if (capsule == NULL) {
        PyMem_Free(e);
        return NULL;
    }
    e->fields = PyMem_Calloc((size_t)PyTuple_GET_SIZE(plan) + 1, sizeof(Field));
    if (e->fields == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(plan); i++) {
        e->count = i + 1;
        if (make_field(&e->fields[i], PyTuple_GET_ITEM(plan, i), socket_class) < 0)
            goto fail;
    }
    e->socket_type = (PyTypeObject *)Py_NewRef(socket_class);
    e->owner_type = Py_NewRef(owner_class);
    e->tcp_info_type = Py_NewRef(tcp_info_class);
    e->encoded = Py_NewRef(encoded);
    e->shared = Py_NewRef(shared);
    e->processes = Py_NewRef(processes);
    e->namespaces = Py_NewRef(namespaces);
    e->tcp_info_json = Py_NewRef(tcp_info_json);
    e->extensions_json = Py_NewRef(extensions_json);
    e->container_json = Py_NewRef(container_json);
    e->fallback = Py_NewRef(fallback);
    e->layered_type = (PyTypeObject *)Py_NewRef(layered_class);
    e->layered = Py_NewRef(layered);
    if ((e->name_attribute = PyUnicode_InternFromString("name")) == NULL ||
        (e->container_attribute = PyUnicode_InternFromString("container")) == NULL ||
        (e->containers = PyDict_New()) == NULL || (e->owners_offset = slot_offset(sockets, "owners")) < 0 ||
        (e->netns_offset = slot_offset(sockets, "netns_inode")) < 0 ||
        (e->raw_offset = slot_offset((PyTypeObject *)tcp_info_class, "raw")) < 0 ||
        (e->observed_offset = slot_offset(sockets, "observed_at")) < 0 ||
        (e->pid_offset = slot_offset(owners, "pid")) < 0 || (e->fd_offset = slot_offset(owners, "fd")) < 0 ||
        (e->layered_shared_offset = slot_offset((PyTypeObject *)layered_class, "shared")) < 0 ||
        (e->layered_raw_offset = slot_offset((PyTypeObject *)layered_class, "raw")) < 0)
        goto fail;
    if (PyCapsule_IsValid(tcp_info_json, STRUCT_JSON_CAPSULE) &&
        (e->tcp_info_layout = PyCapsule_GetPointer(tcp_info_json, STRUCT_JSON_CAPSULE)) == NULL)
        goto fail;
    e->has_now = now != Py_None;
    if (e->has_now && (e->now = PyFloat_AsDouble(now)) == -1.0 && PyErr_Occurred())
        goto fail;
    function = PyCFunction_New(&encode_method, capsule);
    Py_DECREF(capsule);
    return function;
fail:
    Py_DECREF(capsule);
    return NULL;
}

static PyMethodDef methods[] = {
    {"encoder", encoder, METH_VARARGS,
     "encoder(socket_class, plan, owner_class, tcp_info_class, encoded, shared, processes, namespaces, now, "
     "tcp_info_json, extensions_json, container_json, fallback, layered_class, layered) -> encode(sock) -> bytes"},
    {"write", write_objects, METH_VARARGS,
     "write(encode, sockets, start, stop, fd): the JSON objects of sockets[start:stop] (a list), comma-separated, "
     "written to fd"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_socket_json", "The compiled socket JSON encoder.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__socket_json(void) {
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    static const char *names[KINDS] = {"PLAIN", "NUMBER", "OWNERS", "TCP_INFO", "TIMER", "RECORD", "EXTENSIONS",
                                       "CONTAINER"};
    for (int kind = 0; kind < KINDS; kind++)
        if (PyModule_AddIntConstant(m, names[kind], kind) < 0) {
            Py_DECREF(m);
            return NULL;
        }
    return m;
}
