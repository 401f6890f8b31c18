/* The compiled fast path of transport.parse_datagram (optional: the pure-Python one does the same).
 *
 * split(buffer, offset, end, seq, messages, reuse) splits one received netlink datagram into the messages of
 * dump `seq`, appending (buffer, payload offset, end) to `messages`, exactly as transport.parse_datagram does,
 * and returns (dump ended, NLM_F_DUMP_INTR seen, errno of an NLMSG_ERROR/NLMSG_DONE or 0).
 *
 * With `reuse` = (proto, netns, previous, into, fingerprints) the messages are inet_diag replies and each one is
 * fingerprinted first: a hash of the message but for the clocks of an idle socket (idiag_expires and tcp_info's
 * last_* clocks). Where previous[key], key = (proto, cookie, netns), is a record whose `digest` is that
 * fingerprint, the socket did not change: the record goes to `into` (under its own key object) and the message is
 * not listed; otherwise
 * the message is listed, its fingerprint appended to `fingerprints` (the decoder makes it the new record's digest)
 * and into[key] set to key, a place the decoder fills: `into` keeps the kernel's order, and the record takes that
 * key object as its own (the snapshot's mapping holds it, as do the history's tables of its keys).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "../../slot_offset.h"
#include <stdint.h>
#include <string.h>

#define NLMSG_HDRLEN 16
#define NLMSG_ERROR 2
#define NLMSG_DONE 3
#define SOCK_DIAG_BY_FAMILY 20
#define TCPDIAG_GETSOCK 18 /* the reply type of a legacy request (both families in one dump) */
#define NLM_F_DUMP_INTR 0x10
#define INET_DIAG_MSG_LEN 72
#define COOKIE_OFFSET 44
#define EXPIRES_OFFSET 52
#define INET_DIAG_INFO 2
#define NLA_TYPE_MASK 0x3FFF
#define CLOCKS_OFFSET 44 /* tcpi_last_data_sent .. tcpi_last_ack_recv */
#define CLOCKS_SIZE 16

static inline uint32_t read_u32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint16_t read_u16(const unsigned char *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* A 64-bit mix of bytes [p, p + n) into h, 8 bytes at a time (change detection, not cryptography). */
static inline uint64_t mix(uint64_t h, const unsigned char *p, Py_ssize_t n) {
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    if (n > 0) {
        uint64_t w = 0;
        memcpy(&w, p, (size_t)n);
        h = (h ^ w ^ ((uint64_t)n << 56)) * 0x9E3779B97F4A7C15ULL;
        h ^= h >> 29;
    }
    return h;
}

/* The fingerprint of the inet_diag message [p, p + n) (n >= INET_DIAG_MSG_LEN). */
static uint64_t fingerprint(const unsigned char *p, Py_ssize_t n) {
    Py_ssize_t clocks = 0, position = INET_DIAG_MSG_LEN;
    while (position + 4 <= n) {
        uint16_t length = read_u16(p + position), type = read_u16(p + position + 2) & NLA_TYPE_MASK;
        if (length < 4 || position + length > n)
            break;
        if (type == INET_DIAG_INFO && length - 4 >= CLOCKS_OFFSET + CLOCKS_SIZE) {
            clocks = position + 4 + CLOCKS_OFFSET;
            break;
        }
        position += (length + 3) & ~3;
    }
    uint64_t h = 0x243F6A8885A308D3ULL ^ (uint64_t)n;
    h = mix(h, p, EXPIRES_OFFSET);
    if (clocks) {
        h = mix(h, p + EXPIRES_OFFSET + 4, clocks - EXPIRES_OFFSET - 4);
        h = mix(h, p + clocks + CLOCKS_SIZE, n - clocks - CLOCKS_SIZE);
    } else {
        h = mix(h, p + EXPIRES_OFFSET + 4, n - EXPIRES_OFFSET - 4);
    }
    return h;
}

/* Check one inet_diag message against `previous`: 1 if its record was reused, 0 if not (*fp set), -1 on error. */
static PyObject *digest_name, *key_name;

/* The slots `digest` and `key` of the records' class, read straight from the instance (a generic attribute
   lookup each cost ~15% of a kept socket's time). Found once from the class's member descriptors; records of any
   other class go through getattr. */
static PyTypeObject *slotted_type;
static Py_ssize_t digest_offset, key_offset;

/* The record's attribute `name` at `offset` of the slotted class (a new reference), or NULL without an error
   set where it is unset. */
static PyObject *record_attribute(PyObject *record, PyObject *name, Py_ssize_t offset) {
    if (Py_TYPE(record) == slotted_type) {
        PyObject *value = *(PyObject **)((char *)record + offset);
        return Py_XNewRef(value);
    }
    PyObject *value = PyObject_GetAttr(record, name);
    if (value == NULL)
        PyErr_Clear();
    return value;
}

static void learn_slots(PyTypeObject *type) {
    if (type == slotted_type)
        return;
    Py_ssize_t digest = slot_offset(type, "digest"), key = digest < 0 ? -1 : slot_offset(type, "key");
    if (digest < 0 || key < 0) {
        PyErr_Clear(); /* not slotted: records of this class are read through getattr */
        return;
    }
    Py_XSETREF(slotted_type, (PyTypeObject *)Py_NewRef(type));
    digest_offset = digest;
    key_offset = key;
}

static int reuse_one(const unsigned char *p, Py_ssize_t n, PyObject *proto, PyObject *netns, PyObject *previous,
                     PyObject *into,
                     PyObject **fp) {
    uint64_t hash = fingerprint(p, n);
    uint64_t cookie = (uint64_t)read_u32(p + COOKIE_OFFSET + 4) << 32 | read_u32(p + COOKIE_OFFSET);
    PyObject *number = PyLong_FromUnsignedLongLong(cookie);
    if (number == NULL)
        return -1;
    PyObject *key = PyTuple_Pack(3, proto, number, netns);
    Py_DECREF(number);
    if (key == NULL)
        return -1;
    PyObject *last = PyDict_GetItemWithError(previous, key); /* borrowed */
    if (last == NULL && PyErr_Occurred()) {
        Py_DECREF(key);
        return -1;
    }
    if (last != NULL) {
        learn_slots(Py_TYPE(last));
        PyObject *digest = record_attribute(last, digest_name, digest_offset);
        if (digest != NULL) {
            int is_number = PyLong_Check(digest);
            unsigned long long known = is_number ? PyLong_AsUnsignedLongLong(digest) : 0;
            Py_DECREF(digest);
            if (PyErr_Occurred()) {
                PyErr_Clear();
            } else if (is_number && known == hash) {
                /* under the record's own key object: the snapshot keeps `into`, so a new key tuple per socket
                   would be kept too (~100 bytes a socket) */
                PyObject *own = record_attribute(last, key_name, key_offset);
                if (own == NULL)
                    own = Py_NewRef(key);
                int failed = PyDict_SetItem(into, own, last) < 0;
                Py_DECREF(own);
                Py_DECREF(key);
                return failed ? -1 : 1;
            }
        }
    }
    int failed = PyDict_SetItem(into, key, key) < 0;
    Py_DECREF(key);
    if (failed)
        return -1;
    *fp = PyLong_FromUnsignedLongLong(hash);
    return *fp == NULL ? -1 : 0;
}

static PyObject *split(PyObject *self, PyObject *args) {
    PyObject *buffer_object, *messages, *reuse;
    Py_ssize_t offset, end;
    unsigned long seq;
    if (!PyArg_ParseTuple(args, "OnnkO!O", &buffer_object, &offset, &end, &seq, &PyList_Type, &messages, &reuse))
        return NULL;
    PyObject *proto = NULL, *netns = NULL, *previous = NULL, *into = NULL, *fingerprints = NULL;
    if (reuse != Py_None) {
        if (!PyArg_ParseTuple(reuse, "UOO!O!O!", &proto, &netns, &PyDict_Type, &previous, &PyDict_Type, &into,
                              &PyList_Type, &fingerprints))
            return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(buffer_object, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (offset < 0 || end > view.len || offset > end) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "offset and end must lie within the buffer");
        return NULL;
    }
    const unsigned char *data = view.buf;
    int done = 0, interrupted = 0, error = 0;
    while (offset + NLMSG_HDRLEN <= end) {
        const unsigned char *header = data + offset;
        uint32_t length = read_u32(header);
        uint16_t type = read_u16(header + 4), flags = read_u16(header + 6);
        uint32_t msg_seq = read_u32(header + 8);
        if (length < NLMSG_HDRLEN || (Py_ssize_t)length > end - offset)
            break;
        if (msg_seq == (uint32_t)seq) {
            if (flags & NLM_F_DUMP_INTR)
                interrupted = 1;
            if (type == SOCK_DIAG_BY_FAMILY || type == TCPDIAG_GETSOCK) {
                Py_ssize_t payload = offset + NLMSG_HDRLEN, stop = offset + (Py_ssize_t)length;
                PyObject *fp = NULL;
                if (reuse != Py_None && stop - payload >= INET_DIAG_MSG_LEN) {
                    int kept = reuse_one(data + payload, stop - payload, proto, netns, previous, into, &fp);
                    if (kept < 0)
                        goto fail;
                    if (kept) {
                        offset += (length + 3) & ~3U;
                        continue;
                    }
                }
                PyObject *message = Py_BuildValue("(Onn)", buffer_object, payload, stop);
                if (message == NULL || PyList_Append(messages, message) < 0) {
                    Py_XDECREF(message);
                    Py_XDECREF(fp);
                    goto fail;
                }
                Py_DECREF(message);
                if (reuse != Py_None) {
                    if (fp == NULL) /* too short to fingerprint: the decoder counts it as malformed */
                        fp = PyLong_FromLong(0);
                    if (fp == NULL || PyList_Append(fingerprints, fp) < 0) {
                        Py_XDECREF(fp);
                        goto fail;
                    }
                    Py_DECREF(fp);
                }
            } else if (type == NLMSG_DONE || type == NLMSG_ERROR) {
                if (length >= NLMSG_HDRLEN + 4) {
                    int32_t code;
                    memcpy(&code, header + NLMSG_HDRLEN, 4);
                    if (code < 0)
                        error = -code;
                }
                done = 1;
                break;
            }
        }
        offset += (length + 3) & ~3U;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(OOi)", done ? Py_True : Py_False, interrupted ? Py_True : Py_False, error);
fail:
    PyBuffer_Release(&view);
    return NULL;
}

static PyMethodDef methods[] = {
    {"split", split, METH_VARARGS, "split(buffer, offset, end, seq, messages, reuse) -> (done, interrupted, errno)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_scan", "The compiled sock_diag datagram splitter.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__scan(void) {
    digest_name = PyUnicode_InternFromString("digest");
    key_name = PyUnicode_InternFromString("key");
    if (digest_name == NULL || key_name == NULL)
        return NULL;
    return PyModule_Create(&module);
}
