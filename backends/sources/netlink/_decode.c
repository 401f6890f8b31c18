/* The compiled fast path of inet.InetDecoder.decode (optional: the pure-Python decoder builds the same records).
 *
 * configure(socket_class, fields, constants, tcp_info_class, tcp_info_size, timer_class, families, ports), once:
 * the records' class, the names of the fields set from each message (exactly FIELDS below, in that order), the
 * others' constant values ({name: value}), the class of `tcp_info` (its bytes in the slot `raw`, zero-padded to
 * tcp_info_size), the timer's (a tuple subclass: name, expires, retrans), the `family` of IPv4 and IPv6 sockets and
 * the table of ports (inet.PORTS: its ints are the records' ports).
 *
 * plan(layout, size, family, checks, places, shared, own_class) -> where the values of one message shape are:
 * the size and address family of its messages, checks ((offset, length, type) of each attribute header), places
 * ({slot: (offset, size)} of the values read, see inet_layout.RAW and SCALARS), shared ((offset, size) of the
 * SHARED_EXTENSIONS values, in message order) and own_class (the LayeredExtensions of the congestion control's
 * info, or None). inet.InetDecoder makes one per layout that has no RARE_EXTENSIONS.
 *
 * decode(messages, fingerprints, into, decoded, left, left_fingerprints, plans, context) -> malformed messages
 * skipped. Each message whose shape has a plan in plans[size] (a list) becomes a record, into[key]; its key is
 * appended to `decoded` (unless None), its fingerprint (if `fingerprints` is not None) is the record's digest. For
 * a message of a shape without a plan, learn(buffer, offset, end) is called first (the decoder compiles the
 * layout of a new shape, and its plan), and share(layout, buffer, offset) gives the shared extensions mapping of
 * values not cached yet. A message this module does not decode (a shape without a plan: a rare extension; an
 * unknown state or timer) goes to `left` (its fingerprint to `left_fingerprints`) for the pure-Python decoder,
 * into[key] set to key: a place it fills, so that `into` keeps the kernel's order. A record whose place is taken
 * (by the splitter or here) gets the key object there as its own: one per socket. context = (proto, netns,
 * netns_name, observed_at, states, wants_tcp_info, addresses_ipv4, addresses_ipv6, uids, meminfos, skmems,
 * congestion_names, cgroup_paths, shared_extensions, timer_names, timer_off, learn, share): the decoder's caches and
 * memos, looked up with PyObject_GetItem (their __missing__ fills them), and its callbacks.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "../../slot_offset.h"
#include <stdint.h>
#include <string.h>

#define PLAN_CAPSULE "netwatch.inet_decode.plan"
#define HEADER_SIZE 72 /* struct inet_diag_msg */
#define AF_INET_ 2
#define AF_INET6_ 10
#define MAX_CHECKS 64
#define MAX_SHARED 8

static inline uint64_t read_unsigned(const unsigned char *p, Py_ssize_t size) {
    switch (size) {
    case 1:
        return p[0];
    case 2: {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    default: {
        uint64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    }
}

static inline uint32_t u32(const unsigned char *p) { return (uint32_t)read_unsigned(p, 4); }

/* ---- configure ---- */

enum {
    F_KEY, F_PROTO, F_FAMILY, F_STATE, F_LOCAL_ADDRESS, F_LOCAL_PORT, F_REMOTE_ADDRESS, F_REMOTE_PORT, F_RECV_Q,
    F_SEND_Q, F_INODE, F_UID, F_COOKIE, F_TCP_INFO, F_TIMER, F_MEMINFO, F_SKMEM, F_CONGESTION, F_CGROUP, F_SHUTDOWN,
    F_TOS, F_TCLASS, F_MARK, F_INTERFACE, F_NETNS, F_NETNS_INODE, F_EXTENSIONS, F_OBSERVED_AT, F_DIGEST, N_FIELDS
};
static const char *FIELDS[N_FIELDS] = {
    "key", "proto", "family", "state", "local_address", "local_port", "remote_address", "remote_port", "recv_q",
    "send_q", "inode", "uid", "cookie", "tcp_info", "timer", "meminfo", "skmem", "congestion", "cgroup", "shutdown",
    "tos", "tclass", "mark", "interface", "netns", "netns_inode", "extensions", "observed_at", "digest",
};
#define MAX_CONSTANTS 16

static PyTypeObject *socket_type, *tcp_info_type, *timer_type;
static Py_ssize_t field_offset[N_FIELDS], constant_offset[MAX_CONSTANTS], tcp_info_raw_offset, tcp_info_size;
static PyObject *constant_value[MAX_CONSTANTS];
static int constants;
static PyObject *family_names[2]; /* of AF_INET, AF_INET6 */
static PyObject *port_table;       /* inet.PORTS: idiag_sport/dport as unpacked -> port (fills itself) */
static PyObject *ports[65536];     /* its ints by port, as they are met */

static PyObject *configure(PyObject *self, PyObject *args) {
    PyObject *socket_class, *fields, *constant_map, *info_class, *timer_class, *ipv4, *ipv6, *port_map;
    Py_ssize_t info_size;
    if (!PyArg_ParseTuple(args, "O!O!O!O!nO!(UU)O!", &PyType_Type, &socket_class, &PyTuple_Type, &fields,
                          &PyDict_Type, &constant_map, &PyType_Type, &info_class, &info_size, &PyType_Type,
                          &timer_class, &ipv4, &ipv6, &PyDict_Type, &port_map))
        return NULL;
    if (PyTuple_GET_SIZE(fields) != N_FIELDS || PyDict_GET_SIZE(constant_map) > MAX_CONSTANTS || info_size <= 0 ||
        !PyType_IsSubtype((PyTypeObject *)timer_class, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "configure(): unexpected fields, constants, tcp_info size or timer class");
        return NULL;
    }
    for (int i = 0; i < N_FIELDS; i++) {
        PyObject *name = PyTuple_GET_ITEM(fields, i);
        if (!PyUnicode_Check(name) || PyUnicode_CompareWithASCIIString(name, FIELDS[i]) != 0) {
            PyErr_Format(PyExc_TypeError, "configure(): field %d must be %s", i, FIELDS[i]);
            return NULL;
        }
        if ((field_offset[i] = slot_offset((PyTypeObject *)socket_class, FIELDS[i])) < 0)
            return NULL;
    }
    for (int i = 0; i < constants; i++)
        Py_CLEAR(constant_value[i]);
    constants = 0;
    Py_ssize_t position = 0;
    PyObject *name, *value;
    while (PyDict_Next(constant_map, &position, &name, &value)) {
        const char *text = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
        if (text == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "configure(): constants must be named by text");
            return NULL;
        }
        if ((constant_offset[constants] = slot_offset((PyTypeObject *)socket_class, text)) < 0)
            return NULL;
        constant_value[constants++] = Py_NewRef(value);
    }
    if ((tcp_info_raw_offset = slot_offset((PyTypeObject *)info_class, "raw")) < 0)
        return NULL;
    Py_XSETREF(socket_type, (PyTypeObject *)Py_NewRef(socket_class));
    Py_XSETREF(tcp_info_type, (PyTypeObject *)Py_NewRef(info_class));
    Py_XSETREF(timer_type, (PyTypeObject *)Py_NewRef(timer_class));
    if (port_map != port_table) {
        for (int i = 0; i < 65536; i++)
            Py_CLEAR(ports[i]);
        Py_XSETREF(port_table, Py_NewRef(port_map));
    }
    Py_XSETREF(family_names[0], Py_NewRef(ipv4));
    Py_XSETREF(family_names[1], Py_NewRef(ipv6));
    tcp_info_size = info_size;
    Py_RETURN_NONE;
}

/* ---- plans ---- */

typedef struct {
    Py_ssize_t offset, size; /* size 0: absent */
} Place;

enum { P_INFO, P_MEMINFO, P_SKMEM, P_CONG, P_OWN, P_SHUTDOWN, P_TOS, P_TCLASS, P_MARK, P_CGROUP, N_PLACES };
static const char *PLACES[N_PLACES] = {"info",     "meminfo", "skmem",  "cong", "own",
                                       "shutdown", "tos",     "tclass", "mark", "cgroup"};

typedef struct {
    Py_ssize_t size;
    int family;
    int checks;
    struct {
        Py_ssize_t offset;
        uint16_t length, type;
    } check[MAX_CHECKS];
    Place place[N_PLACES];
    int shared;
    Place shared_place[MAX_SHARED];
    PyObject *layout;    /* the key of the shared extensions, with the picked values */
    PyTypeObject *own;   /* LayeredExtensions subclass, or NULL */
    Py_ssize_t own_shared_offset, own_raw_offset;
} Plan;

static void free_plan(PyObject *capsule) {
    Plan *plan = PyCapsule_GetPointer(capsule, PLAN_CAPSULE);
    if (plan != NULL) {
        Py_XDECREF(plan->layout);
        Py_XDECREF(plan->own);
        PyMem_Free(plan);
    }
}

static int read_place(PyObject *item, Py_ssize_t size, Place *place) {
    if (!PyArg_ParseTuple(item, "nn", &place->offset, &place->size))
        return -1;
    if (place->offset < HEADER_SIZE || place->size <= 0 || place->offset + place->size > size) {
        PyErr_SetString(PyExc_ValueError, "plan(): a value lies outside the message");
        return -1;
    }
    return 0;
}

static PyObject *make_plan(PyObject *self, PyObject *args) {
    PyObject *layout, *checks, *places, *shared, *own;
    Py_ssize_t size;
    int family;
    if (!PyArg_ParseTuple(args, "OniO!O!O!O", &layout, &size, &family, &PyTuple_Type, &checks, &PyDict_Type, &places,
                          &PyTuple_Type, &shared, &own))
        return NULL;
    if (size < HEADER_SIZE || PyTuple_GET_SIZE(checks) > MAX_CHECKS || PyTuple_GET_SIZE(shared) > MAX_SHARED) {
        PyErr_SetString(PyExc_ValueError, "plan(): too short a message, or too many attributes");
        return NULL;
    }
    Plan *plan = PyMem_Calloc(1, sizeof(Plan));
    if (plan == NULL)
        return PyErr_NoMemory();
    PyObject *capsule = PyCapsule_New(plan, PLAN_CAPSULE, free_plan);
    if (capsule == NULL) {
        PyMem_Free(plan);
        return NULL;
    }
    plan->size = size;
    plan->family = family;
    plan->layout = Py_NewRef(layout);
    plan->checks = (int)PyTuple_GET_SIZE(checks);
    for (int i = 0; i < plan->checks; i++) {
        Py_ssize_t offset;
        int length, type;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(checks, i), "nii", &offset, &length, &type))
            goto fail;
        if (offset < HEADER_SIZE || offset + 4 > size) {
            PyErr_SetString(PyExc_ValueError, "plan(): an attribute header lies outside the message");
            goto fail;
        }
        plan->check[i].offset = offset;
        plan->check[i].length = (uint16_t)length;
        plan->check[i].type = (uint16_t)type;
    }
    for (int i = 0; i < N_PLACES; i++) {
        PyObject *item = PyDict_GetItemString(places, PLACES[i]); /* borrowed */
        if (item != NULL && read_place(item, size, &plan->place[i]) < 0)
            goto fail;
    }
    plan->shared = (int)PyTuple_GET_SIZE(shared);
    for (int i = 0; i < plan->shared; i++)
        if (read_place(PyTuple_GET_ITEM(shared, i), size, &plan->shared_place[i]) < 0)
            goto fail;
    if (own != Py_None) {
        if (!PyType_Check(own)) {
            PyErr_SetString(PyExc_TypeError, "plan(): own_class must be a class or None");
            goto fail;
        }
        plan->own = (PyTypeObject *)Py_NewRef(own);
        if ((plan->own_shared_offset = slot_offset(plan->own, "shared")) < 0 ||
            (plan->own_raw_offset = slot_offset(plan->own, "raw")) < 0)
            goto fail;
    }
    if (plan->place[P_OWN].size == 0 && plan->own != NULL) {
        PyErr_SetString(PyExc_ValueError, "plan(): own_class without its place");
        goto fail;
    }
    return capsule;
fail:
    Py_DECREF(capsule);
    return NULL;
}

static int fits(const Plan *plan, const unsigned char *p, Py_ssize_t n) {
    if (n != plan->size || p[0] != plan->family)
        return 0;
    for (int i = 0; i < plan->checks; i++) {
        const unsigned char *header = p + plan->check[i].offset;
        if (read_unsigned(header, 2) != plan->check[i].length || read_unsigned(header + 2, 2) != plan->check[i].type)
            return 0;
    }
    return 1;
}

/* ---- decode ---- */

typedef struct {
    PyObject *proto, *netns, *netns_name, *observed_at, *states, *addresses[2], *uids, *meminfos, *skmems,
        *congestion_names, *cgroup_paths, *shared_extensions, *timer_names, *timer_off, *learn, *share;
    int wants_tcp_info;
} Context;

static PyObject *unsigned_number(uint64_t value) { return PyLong_FromUnsignedLongLong(value); }

static PyObject *port(const unsigned char *p) {
    unsigned number = (unsigned)p[0] << 8 | p[1]; /* network order */
    if (ports[number] == NULL) {
        /* port_table[raw], filled here as its __missing__ would (a Python call per port: ~25 ms of a cold dump of
         * 100,000 sockets, whose ports are mostly new) */
        PyObject *raw = PyLong_FromUnsignedLong((unsigned long)read_unsigned(p, 2));
        PyObject *value = raw == NULL ? NULL : PyDict_GetItemWithError(port_table, raw); /* borrowed */
        if (value != NULL) {
            Py_INCREF(value);
        } else if (raw != NULL && !PyErr_Occurred() && (value = PyLong_FromUnsignedLong(number)) != NULL &&
                   PyDict_SetItem(port_table, raw, value) < 0) {
            Py_CLEAR(value);
        }
        Py_XDECREF(raw);
        if (value == NULL)
            return NULL;
        if (ports[number] == NULL) /* another thread's decoder may have filled it meanwhile */
            ports[number] = value;
        else
            Py_DECREF(value);
    }
    return Py_NewRef(ports[number]);
}

/* memo[bytes p[0:size]] (a new reference, or NULL with an error set). */
static PyObject *lookup_bytes(PyObject *memo, const unsigned char *p, Py_ssize_t size) {
    PyObject *key = PyBytes_FromStringAndSize((const char *)p, size);
    if (key == NULL)
        return NULL;
    PyObject *value = PyObject_GetItem(memo, key);
    Py_DECREF(key);
    return value;
}

static PyObject *scalar(const unsigned char *p, const Place *place) {
    return place->size ? unsigned_number(read_unsigned(p + place->offset, place->size)) : Py_NewRef(Py_None);
}

static PyObject *make_key(const Context *c, const unsigned char *p) {
    PyObject *cookie = unsigned_number((uint64_t)u32(p + 48) << 32 | u32(p + 44));
    if (cookie == NULL)
        return NULL;
    PyObject *key = PyTuple_Pack(3, c->proto, cookie, c->netns);
    Py_DECREF(cookie);
    return key;
}

/* The key of message p for a record going into `into`: the key object of its place there, if one was taken
   (into[key] is key), else a new one. */
static PyObject *placed_key(const Context *c, const unsigned char *p, PyObject *into) {
    PyObject *key = make_key(c, p);
    if (key == NULL)
        return NULL;
    PyObject *placed = PyDict_GetItemWithError(into, key); /* borrowed */
    if (placed != NULL && PyTuple_CheckExact(placed))
        Py_SETREF(key, Py_NewRef(placed));
    else if (PyErr_Occurred())
        Py_CLEAR(key);
    return key;
}

/* The shared extensions mapping of the message at `offset` of `buffer` (a new reference), or NULL. */
static PyObject *shared_extensions(const Context *c, const Plan *plan, const unsigned char *p, PyObject *buffer,
                                   Py_ssize_t offset) {
    PyObject *picked;
    if (plan->shared == 0) {
        picked = Py_NewRef(Py_None);
    } else if (plan->shared == 1) {
        picked = scalar(p, &plan->shared_place[0]);
    } else {
        picked = PyTuple_New(plan->shared);
        for (int i = 0; picked != NULL && i < plan->shared; i++) {
            PyObject *value = scalar(p, &plan->shared_place[i]);
            if (value == NULL)
                Py_CLEAR(picked);
            else
                PyTuple_SET_ITEM(picked, i, value);
        }
    }
    if (picked == NULL)
        return NULL;
    PyObject *key = PyTuple_Pack(2, plan->layout, picked);
    Py_DECREF(picked);
    if (key == NULL)
        return NULL;
    PyObject *found = PyDict_GetItemWithError(c->shared_extensions, key);
    Py_DECREF(key);
    if (found != NULL)
        return Py_NewRef(found);
    return PyErr_Occurred() ? NULL : PyObject_CallFunction(c->share, "OOn", plan->layout, buffer, offset);
}

static PyObject *new_tcp_info(const unsigned char *p, const Place *place) {
    PyObject *raw = PyBytes_FromStringAndSize(NULL, tcp_info_size);
    if (raw == NULL)
        return NULL;
    Py_ssize_t size = place->size < tcp_info_size ? place->size : tcp_info_size;
    memcpy(PyBytes_AS_STRING(raw), p + place->offset, (size_t)size);
    memset(PyBytes_AS_STRING(raw) + size, 0, (size_t)(tcp_info_size - size));
    PyObject *info = tcp_info_type->tp_alloc(tcp_info_type, 0);
    if (info == NULL) {
        Py_DECREF(raw);
        return NULL;
    }
    *(PyObject **)((char *)info + tcp_info_raw_offset) = raw;
    return info;
}

static PyObject *new_timer(const Context *c, const unsigned char *p) {
    PyObject *timer = timer_type->tp_alloc(timer_type, 3);
    if (timer == NULL)
        return NULL;
    PyObject *expires = unsigned_number(u32(p + 52)), *retrans = unsigned_number(p[3]);
    if (expires == NULL || retrans == NULL) {
        Py_XDECREF(expires);
        Py_XDECREF(retrans);
        Py_DECREF(timer);
        return NULL;
    }
    PyTuple_SET_ITEM(timer, 0, Py_NewRef(PyTuple_GET_ITEM(c->timer_names, p[2])));
    PyTuple_SET_ITEM(timer, 1, expires);
    PyTuple_SET_ITEM(timer, 2, retrans);
    return timer;
}

static PyObject *own_extensions(const Plan *plan, PyObject *shared, const unsigned char *p) {
    const Place *place = &plan->place[P_OWN];
    PyObject *raw = PyBytes_FromStringAndSize((const char *)p + place->offset, place->size);
    if (raw == NULL)
        return NULL;
    PyObject *layered = plan->own->tp_alloc(plan->own, 0);
    if (layered == NULL) {
        Py_DECREF(raw);
        return NULL;
    }
    *(PyObject **)((char *)layered + plan->own_shared_offset) = Py_NewRef(shared);
    *(PyObject **)((char *)layered + plan->own_raw_offset) = raw;
    return layered;
}

/* Build the record of message p[0:n] (at `offset` of `buffer`) with `plan` into `into`: 1 done, 0 left to Python,
   -1 error. */
static int build(const Context *c, const Plan *plan, const unsigned char *p, PyObject *buffer, Py_ssize_t offset,
                 PyObject *fingerprint, PyObject *into, PyObject *decoded) {
    unsigned state = p[1], timer = p[2];
    if (state >= (unsigned)PyTuple_GET_SIZE(c->states) || timer >= (unsigned)PyTuple_GET_SIZE(c->timer_names))
        return 0;
    PyObject *extensions = shared_extensions(c, plan, p, buffer, offset);
    if (extensions == NULL)
        return -1;
    int v6 = p[0] == AF_INET6_;
    PyObject *value[N_FIELDS] = {NULL};
    int result = -1;
    if ((value[F_KEY] = fingerprint == Py_None ? make_key(c, p) : placed_key(c, p, into)) == NULL)
        goto done;
    value[F_PROTO] = Py_NewRef(c->proto);
    value[F_FAMILY] = Py_NewRef(family_names[v6]);
    value[F_STATE] = Py_NewRef(PyTuple_GET_ITEM(c->states, state));
    value[F_COOKIE] = Py_NewRef(PyTuple_GET_ITEM(value[F_KEY], 1));
    value[F_NETNS] = Py_NewRef(c->netns_name);
    value[F_NETNS_INODE] = Py_NewRef(c->netns);
    value[F_OBSERVED_AT] = Py_NewRef(c->observed_at);
    value[F_DIGEST] = Py_NewRef(fingerprint);
    if ((value[F_LOCAL_ADDRESS] = lookup_bytes(c->addresses[v6], p + 8, 16)) == NULL ||
        (value[F_REMOTE_ADDRESS] = lookup_bytes(c->addresses[v6], p + 24, 16)) == NULL ||
        (value[F_LOCAL_PORT] = port(p + 4)) == NULL || (value[F_REMOTE_PORT] = port(p + 6)) == NULL ||
        (value[F_INTERFACE] = unsigned_number(u32(p + 40))) == NULL ||
        (value[F_RECV_Q] = unsigned_number(u32(p + 56))) == NULL ||
        (value[F_SEND_Q] = unsigned_number(u32(p + 60))) == NULL ||
        (value[F_UID] = unsigned_number(u32(p + 64))) == NULL ||
        (value[F_INODE] = unsigned_number(u32(p + 68))) == NULL)
        goto done;
    PyObject *uid = PyDict_SetDefault(c->uids, value[F_UID], value[F_UID]); /* one int per distinct uid */
    if (uid == NULL)
        goto done;
    Py_SETREF(value[F_UID], Py_NewRef(uid));
    value[F_TIMER] = timer == 0 ? Py_NewRef(c->timer_off) : new_timer(c, p);
    const Place *place = plan->place;
    if (value[F_TIMER] == NULL)
        goto done;
    value[F_TCP_INFO] = place[P_INFO].size && c->wants_tcp_info ? new_tcp_info(p, &place[P_INFO]) : Py_NewRef(Py_None);
    value[F_MEMINFO] = place[P_MEMINFO].size ? lookup_bytes(c->meminfos, p + place[P_MEMINFO].offset,
                                                            place[P_MEMINFO].size)
                                             : Py_NewRef(Py_None);
    value[F_SKMEM] = place[P_SKMEM].size ? lookup_bytes(c->skmems, p + place[P_SKMEM].offset, place[P_SKMEM].size)
                                         : Py_NewRef(Py_None);
    value[F_CONGESTION] = place[P_CONG].size ? lookup_bytes(c->congestion_names, p + place[P_CONG].offset,
                                                            place[P_CONG].size)
                                             : Py_NewRef(Py_None);
    if (place[P_CGROUP].size) {
        PyObject *id = scalar(p, &place[P_CGROUP]);
        value[F_CGROUP] = id == NULL ? NULL : PyObject_GetItem(c->cgroup_paths, id);
        Py_XDECREF(id);
    } else {
        value[F_CGROUP] = Py_NewRef(Py_None);
    }
    value[F_SHUTDOWN] = scalar(p, &place[P_SHUTDOWN]);
    value[F_TOS] = scalar(p, &place[P_TOS]);
    value[F_TCLASS] = scalar(p, &place[P_TCLASS]);
    value[F_MARK] = scalar(p, &place[P_MARK]);
    value[F_EXTENSIONS] = plan->own ? own_extensions(plan, extensions, p) : Py_NewRef(extensions);
    for (int i = 0; i < N_FIELDS; i++)
        if (value[i] == NULL)
            goto done;
    PyObject *record = socket_type->tp_alloc(socket_type, 0);
    if (record == NULL)
        goto done;
    for (int i = 0; i < N_FIELDS; i++) {
        *(PyObject **)((char *)record + field_offset[i]) = value[i];
        value[i] = NULL;
    }
    for (int i = 0; i < constants; i++)
        *(PyObject **)((char *)record + constant_offset[i]) = Py_NewRef(constant_value[i]);
    PyObject *key = *(PyObject **)((char *)record + field_offset[F_KEY]);
    int failed = PyDict_SetItem(into, key, record) < 0 || (decoded != Py_None && PyList_Append(decoded, key) < 0);
    Py_DECREF(record);
    result = failed ? -1 : 1;
done:
    for (int i = 0; i < N_FIELDS; i++)
        Py_XDECREF(value[i]);
    Py_DECREF(extensions);
    return result;
}

/* The plan in plans[n] that message p[0:n] fits, NULL if none (without an error), or NULL with an error. */
static const Plan *plan_for(PyObject *plans, const unsigned char *p, Py_ssize_t n) {
    PyObject *size = PyLong_FromSsize_t(n);
    if (size == NULL)
        return NULL;
    PyObject *candidates = PyDict_GetItemWithError(plans, size); /* borrowed */
    Py_DECREF(size);
    if (candidates == NULL || !PyList_Check(candidates))
        return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(candidates); i++) {
        const Plan *plan = PyCapsule_GetPointer(PyList_GET_ITEM(candidates, i), PLAN_CAPSULE);
        if (plan == NULL)
            return NULL;
        if (fits(plan, p, n))
            return plan;
    }
    return NULL;
}

static int leave(const Context *c, const unsigned char *p, PyObject *message, PyObject *fingerprint, PyObject *into,
                 PyObject *left, PyObject *left_fingerprints) {
    PyObject *key = make_key(c, p);
    if (key == NULL)
        return -1;
    int failed = PyDict_SetItem(into, key, key) < 0 || PyList_Append(left, message) < 0 ||
                 (left_fingerprints != Py_None && PyList_Append(left_fingerprints, fingerprint) < 0);
    Py_DECREF(key);
    return failed ? -1 : 0;
}

static PyObject *decode(PyObject *self, PyObject *args) {
    PyObject *messages, *fingerprints, *into, *decoded, *left, *left_fingerprints, *plans, *context;
    if (!PyArg_ParseTuple(args, "O!OO!OO!OO!O!", &PyList_Type, &messages, &fingerprints, &PyDict_Type, &into,
                          &decoded, &PyList_Type, &left, &left_fingerprints, &PyDict_Type, &plans, &PyTuple_Type,
                          &context))
        return NULL;
    if (socket_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "decode() before configure()");
        return NULL;
    }
    Context c;
    if (!PyArg_ParseTuple(context, "OOOOO!pOOO!OOOOO!O!OOO", &c.proto, &c.netns, &c.netns_name, &c.observed_at,
                          &PyTuple_Type, &c.states, &c.wants_tcp_info, &c.addresses[0], &c.addresses[1],
                          &PyDict_Type, &c.uids, &c.meminfos, &c.skmems, &c.congestion_names, &c.cgroup_paths,
                          &PyDict_Type, &c.shared_extensions, &PyTuple_Type, &c.timer_names, &c.timer_off, &c.learn,
                          &c.share))
        return NULL;
    Py_ssize_t count = PyList_GET_SIZE(messages);
    if ((fingerprints != Py_None && (!PyList_Check(fingerprints) || PyList_GET_SIZE(fingerprints) != count)) ||
        (decoded != Py_None && !PyList_Check(decoded)) ||
        (left_fingerprints != Py_None && !PyList_Check(left_fingerprints))) {
        PyErr_SetString(PyExc_TypeError, "decode(): fingerprints must be None or one per message, and the decoded "
                                         "and left fingerprints lists None or lists");
        return NULL;
    }
    long skipped = 0;
    PyObject *viewed = NULL; /* the buffer of `view` (messages mostly share one) */
    Py_buffer view;
    const Plan *last = NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *message = PyList_GET_ITEM(messages, i);
        PyObject *fingerprint = fingerprints == Py_None ? Py_None : PyList_GET_ITEM(fingerprints, i);
        if (!PyTuple_Check(message) || PyTuple_GET_SIZE(message) != 3) {
            PyErr_SetString(PyExc_TypeError, "decode(): a message must be (buffer, offset, end)");
            goto fail;
        }
        PyObject *buffer = PyTuple_GET_ITEM(message, 0);
        Py_ssize_t offset = PyLong_AsSsize_t(PyTuple_GET_ITEM(message, 1));
        Py_ssize_t end = PyLong_AsSsize_t(PyTuple_GET_ITEM(message, 2));
        if (PyErr_Occurred())
            goto fail;
        if (buffer != viewed) {
            if (viewed != NULL)
                PyBuffer_Release(&view);
            viewed = NULL;
            if (PyObject_GetBuffer(buffer, &view, PyBUF_SIMPLE) < 0)
                goto fail;
            viewed = buffer;
        }
        if (offset < 0 || end > view.len || offset > end) {
            PyErr_SetString(PyExc_ValueError, "decode(): a message lies outside its buffer");
            goto fail;
        }
        const unsigned char *p = (const unsigned char *)view.buf + offset;
        Py_ssize_t n = end - offset;
        if (n < HEADER_SIZE || (p[0] != AF_INET_ && p[0] != AF_INET6_)) {
            skipped++;
            continue;
        }
        const Plan *plan = last != NULL && fits(last, p, n) ? last : plan_for(plans, p, n);
        if (plan == NULL && !PyErr_Occurred()) { /* a new shape: learn it */
            PyObject *learnt = PyObject_CallFunction(c.learn, "Onn", buffer, offset, end);
            Py_XDECREF(learnt);
            last = NULL; /* learning may drop every plan (see inet.MAX_LAYOUTS) */
            if (learnt != NULL)
                plan = plan_for(plans, p, n);
        }
        if (plan == NULL && PyErr_Occurred())
            goto fail;
        int built = plan == NULL ? 0 : build(&c, plan, p, buffer, offset, fingerprint, into, decoded);
        if (built < 0)
            goto fail;
        if (built) {
            last = plan;
        } else if (leave(&c, p, message, fingerprint, into, left, left_fingerprints) < 0) {
            goto fail;
        }
    }
    if (viewed != NULL)
        PyBuffer_Release(&view);
    return PyLong_FromLong(skipped);
fail:
    if (viewed != NULL)
        PyBuffer_Release(&view);
    return NULL;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(socket_class, fields, constants, tcp_info_class, tcp_info_size, timer_class, families, ports)"},
    {"plan", make_plan, METH_VARARGS, "plan(layout, size, family, checks, places, shared, own_class) -> plan"},
    {"decode", decode, METH_VARARGS,
     "decode(messages, fingerprints, into, decoded, left, left_fingerprints, plans, context) -> skipped"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_decode", "The compiled inet_diag decoder.", -1, methods};

PyMODINIT_FUNC PyInit__decode(void) { return PyModule_Create(&module); }
