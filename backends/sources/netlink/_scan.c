/* The compiled fast path of transport.parse_datagram (optional: the pure-Python one does the same).
 *
 * split(buffer, offset, end, seq, messages, reuse) splits one received netlink datagram into the messages of
 * dump `seq`, appending (buffer, payload offset, end) to `messages`, exactly as transport.parse_datagram does,
 * and returns (dump ended, NLM_F_DUMP_INTR seen, errno of an NLMSG_ERROR/NLMSG_DONE or 0).
 *
 * With `reuse` = (proto, netns, previous, into, order, fingerprints) the messages are inet_diag replies and each one is
 * fingerprinted first: a hash of the message but for the clocks of an idle socket (idiag_expires and tcp_info's
 * last_* clocks). Where previous[key], key = (proto, cookie, netns), is a record whose `digest` is that
 * fingerprint, the socket did not change: the record goes to `into` (under its own key object) and the message is
 * not listed; otherwise
 * the message is listed, its fingerprint appended to `fingerprints` (the decoder makes it the new record's digest)
 * and into[key] set to key, a place the decoder fills: `into` keeps the kernel's order, and the record takes that
 * key object as its own (the snapshot's mapping holds it, as do the history's tables of its keys).
 *
 * An Order (`order`, or None) remembers one dump's messages of one (proto, netns): each socket's
 * cookie, fingerprint, key object, the key's hash and record. The kernel lists unchanged sockets in the same order at
 * every dump (bucket by bucket of its hash tables), so the next dump of the same request finds most of its messages
 * at the Order's cursor: their key is looked up in `previous` by its known hash, with no key tuple built, hashed and
 * compared, and a record still the one remembered needs no digest read. The decision is the same as without it:
 * the record previous[key] is kept where its digest is the fingerprint.
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

#define MIX_FACTOR 0x9E3779B97F4A7C15ULL

static inline uint64_t mix_word(uint64_t h, uint64_t w) {
    h = (h ^ w) * MIX_FACTOR;
    return h ^ (h >> 29);
}

static inline uint64_t word_at(const unsigned char *p) {
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

/* A 64-bit mix of bytes [p, p + n) into h (change detection, not cryptography). Four lanes take 32 bytes a round,
   so that their multiplications overlap (one chain of them was most of the splitter's own time), then 8 bytes at a
   time; a tail of a segment of 8 bytes or more is read as its last 8 bytes (a byte-wise copy stalled the load). */
static inline uint64_t mix(uint64_t h, const unsigned char *p, Py_ssize_t n) {
    int whole_word = n >= 8;
    if (n >= 32) {
        uint64_t a = h, b = h ^ 0x13198A2E03707344ULL, c = h ^ 0xA4093822299F31D0ULL, d = h ^ 0x082EFA98EC4E6C89ULL;
        do {
            a = mix_word(a, word_at(p));
            b = mix_word(b, word_at(p + 8));
            c = mix_word(c, word_at(p + 16));
            d = mix_word(d, word_at(p + 24));
            p += 32;
            n -= 32;
        } while (n >= 32);
        h = mix_word(mix_word(mix_word(a, b), c), d);
    }
    for (; n >= 8; p += 8, n -= 8)
        h = mix_word(h, word_at(p));
    if (n > 0) {
        uint64_t w = 0;
        if (whole_word)
            w = word_at(p + n - 8);
        else
            memcpy(&w, p, (size_t)n);
        h = mix_word(h, w ^ ((uint64_t)n << 56));
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


/* One message of a dump, as an Order remembers it (strong references; record NULL until the decoder built it). */
typedef struct {
    uint64_t cookie, fingerprint;
    Py_hash_t hash;
    PyObject *key, *record;
} Entry;

typedef struct {
    Entry *entries;
    Py_ssize_t count, capacity;
} Entries;

typedef struct {
    PyObject_HEAD
    Entries last, next; /* the last complete dump's messages; the dump in progress's */
    Py_ssize_t cursor; /* where in `last` the next message is looked for */
    Py_ssize_t found;  /* messages of the dump in progress found in `last` */
    int complete;      /* `next` holds a whole dump */
} OrderObject;

#define LOOK_AHEAD 8 /* entries of `last` passed over (sockets gone) to find a message's cookie */
#define LOOK_FAR 4096 /* ...for a socket of the previous snapshot that is not there: a longer run of sockets gone */

static void entries_clear(Entries *entries) {
    for (Py_ssize_t i = 0; i < entries->count; i++) {
        Py_DECREF(entries->entries[i].key);
        Py_XDECREF(entries->entries[i].record);
    }
    entries->count = 0;
}

static void entries_free(Entries *entries) {
    entries_clear(entries);
    PyMem_Free(entries->entries);
    entries->entries = NULL;
    entries->capacity = 0;
}

static int entries_append(Entries *entries, uint64_t cookie, uint64_t fingerprint, Py_hash_t hash, PyObject *key,
                          PyObject *record) {
    if (entries->count == entries->capacity) {
        Py_ssize_t capacity = entries->capacity ? entries->capacity * 2 : 1024;
        Entry *grown = PyMem_Realloc(entries->entries, (size_t)capacity * sizeof(Entry));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        entries->entries = grown;
        entries->capacity = capacity;
    }
    entries->entries[entries->count++] = (Entry){cookie, fingerprint, hash, Py_NewRef(key), Py_XNewRef(record)};
    return 0;
}

/* Order.begin(): the next messages split with this Order are a new dump's; the last one, if it completed, becomes
   the order they are looked for in. */
static PyObject *order_begin(OrderObject *order, PyObject *Py_UNUSED(ignored)) {
    if (order->complete) {
        Entries spent = order->last;
        order->last = order->next;
        order->next = spent;
    }
    entries_clear(&order->next);
    if (order->next.capacity > 2 * order->last.count + 1024) /* a dump that shrank gives its memory back */
        entries_free(&order->next);
    order->cursor = order->found = 0;
    order->complete = 0;
    Py_RETURN_NONE;
}

/* The entry of `last` for `cookie` among the `ahead` entries from the cursor (the cursor moves past it), or NULL. */
static Entry *order_find(OrderObject *order, uint64_t cookie, Py_ssize_t ahead) {
    Py_ssize_t stop = order->last.count - order->cursor > ahead ? order->cursor + ahead : order->last.count;
    for (Py_ssize_t i = order->cursor; i < stop; i++) {
        if (order->last.entries[i].cookie == cookie) {
            order->cursor = i + 1;
            order->found++;
            return &order->last.entries[i];
        }
    }
    return NULL;
}

static void order_dealloc(OrderObject *order) {
    entries_free(&order->last);
    entries_free(&order->next);
    Py_TYPE(order)->tp_free((PyObject *)order);
}

static PyObject *order_len(OrderObject *order, PyObject *Py_UNUSED(ignored)) {
    return PyLong_FromSsize_t(order->last.count);
}

static PyObject *order_found(OrderObject *order, PyObject *Py_UNUSED(ignored)) {
    return PyLong_FromSsize_t(order->found);
}

static PyMethodDef order_methods[] = {
    {"begin", (PyCFunction)order_begin, METH_NOARGS, "Start a dump: the last one, if complete, is the order."},
    {"remembered", (PyCFunction)order_len, METH_NOARGS, "How many messages of the last complete dump it holds."},
    {"found", (PyCFunction)order_found, METH_NOARGS, "How many messages of the dump in progress it found."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject OrderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "netwatch.backends.sources.netlink._scan.Order",
    .tp_basicsize = sizeof(OrderObject),
    .tp_dealloc = (destructor)order_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The messages of one (proto, netns)'s last dump, in the kernel's order (see split).",
    .tp_new = PyType_GenericNew,
    .tp_methods = order_methods,
};

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

/* previous[key] and into[key] = value by the key's known hash (the public calls where CPython keeps these private). */
static PyObject *get_known(PyObject *dict, PyObject *key, Py_hash_t hash) {
#if PY_VERSION_HEX < 0x030E0000
    return _PyDict_GetItem_KnownHash(dict, key, hash);
#else
    (void)hash;
    return PyDict_GetItemWithError(dict, key);
#endif
}

static int set_known(PyObject *dict, PyObject *key, PyObject *value, Py_hash_t hash) {
#if PY_VERSION_HEX < 0x030D0000
    return _PyDict_SetItem_KnownHash(dict, key, value, hash);
#else
    (void)hash;
    return PyDict_SetItem(dict, key, value);
#endif
}

/* Whether `last`, the previous record of a message of fingerprint `hash`, is kept: its digest is that fingerprint
   (known without reading it when it is the record `known` remembers, which had that digest). */
static int unchanged(PyObject *last, Entry *known, uint64_t hash) {
    if (known != NULL && known->record == last)
        return known->fingerprint == hash;
    learn_slots(Py_TYPE(last));
    PyObject *digest = record_attribute(last, digest_name, digest_offset);
    if (digest == NULL)
        return 0;
    int is_number = PyLong_Check(digest);
    unsigned long long value = is_number ? PyLong_AsUnsignedLongLong(digest) : 0;
    Py_DECREF(digest);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return is_number && value == hash;
}

/* Check one inet_diag message against `previous`: 1 if its record was reused, 0 if not (*fp set), -1 on error.
   `order` (or NULL) finds the message's key and remembers the message for the next dump. */
static int reuse_one(const unsigned char *p, Py_ssize_t n, PyObject *proto, PyObject *netns, PyObject *previous,
                     PyObject *into, OrderObject *order, PyObject **fp) {
    uint64_t hash = fingerprint(p, n);
    uint64_t cookie = (uint64_t)read_u32(p + COOKIE_OFFSET + 4) << 32 | read_u32(p + COOKIE_OFFSET);
    Entry *known = order != NULL ? order_find(order, cookie, LOOK_AHEAD) : NULL;
    PyObject *key;
    Py_hash_t key_hash;
    if (known != NULL) {
        key = Py_NewRef(known->key);
        key_hash = known->hash;
    } else {
        PyObject *number = PyLong_FromUnsignedLongLong(cookie);
        if (number == NULL)
            return -1;
        key = PyTuple_Pack(3, proto, number, netns);
        Py_DECREF(number);
        if (key == NULL)
            return -1;
        key_hash = PyObject_Hash(key);
        if (key_hash == -1)
            goto fail;
    }
    PyObject *last = get_known(previous, key, key_hash); /* borrowed */
    if (last == NULL && PyErr_Occurred())
        goto fail;
    if (known == NULL && last != NULL && order != NULL) /* an old socket past the look-ahead: the cursor follows */
        order_find(order, cookie, LOOK_FAR);
    int kept = last != NULL ? unchanged(last, known, hash) : 0;
    if (kept) {
        /* under the record's own key object: the snapshot keeps `into`, so a new key tuple per socket would be
           kept too (~100 bytes a socket) */
        PyObject *own = known != NULL ? Py_NewRef(key) : record_attribute(last, key_name, key_offset);
        if (own == NULL)
            own = Py_NewRef(key);
        Py_hash_t own_hash = own == key ? key_hash : PyObject_Hash(own);
        int failed = own_hash == -1 || set_known(into, own, last, own_hash) < 0 ||
                     (order != NULL && entries_append(&order->next, cookie, hash, own_hash, own, last) < 0);
        Py_DECREF(own);
        Py_DECREF(key);
        return failed ? -1 : 1;
    }
    if (set_known(into, key, key, key_hash) < 0 ||
        (order != NULL && entries_append(&order->next, cookie, hash, key_hash, key, NULL) < 0))
        goto fail;
    Py_DECREF(key);
    *fp = PyLong_FromUnsignedLongLong(hash);
    return *fp == NULL ? -1 : 0;
fail:
    Py_DECREF(key);
    return -1;
}

static PyObject *split(PyObject *self, PyObject *args) {
    PyObject *buffer_object, *messages, *reuse;
    Py_ssize_t offset, end;
    unsigned long seq;
    if (!PyArg_ParseTuple(args, "OnnkO!O", &buffer_object, &offset, &end, &seq, &PyList_Type, &messages, &reuse))
        return NULL;
    PyObject *proto = NULL, *netns = NULL, *previous = NULL, *into = NULL, *fingerprints = NULL, *remembered = Py_None;
    if (reuse != Py_None) {
        if (!PyArg_ParseTuple(reuse, "UOO!O!OO!", &proto, &netns, &PyDict_Type, &previous, &PyDict_Type, &into,
                              &remembered, &PyList_Type, &fingerprints))
            return NULL;
        if (remembered != Py_None && !PyObject_TypeCheck(remembered, &OrderType)) {
            PyErr_SetString(PyExc_TypeError, "the order must be an Order or None");
            return NULL;
        }
    }
    OrderObject *order = remembered == Py_None ? NULL : (OrderObject *)remembered;
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
                    int kept = reuse_one(data + payload, stop - payload, proto, netns, previous, into, order, &fp);
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
                if (order != NULL && !error)
                    order->complete = 1;
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
    if (PyType_Ready(&OrderType) < 0)
        return NULL;
    PyObject *created = PyModule_Create(&module);
    if (created == NULL)
        return NULL;
    if (PyModule_AddObjectRef(created, "Order", (PyObject *)&OrderType) < 0) {
        Py_DECREF(created);
        return NULL;
    }
    return created;
}
