/* The compiled fast paths of owner records (optional: the pure-Python loops do the same): attaching them to socket
 * records by inode (records.attach_owners), and making one process's from its fd table (FdTable.from_scan).
 *
 * socket_layout(Socket) -> a capsule of the record type and the slot offsets it reads and writes (inode, owners,
 * observed_at, key).
 *
 * attach(socket_layout, sockets, owners, observed_at, copied, with_owners) -> how many sockets with an inode have none
 * (None, having done nothing, when a value of `sockets` is not exactly of the record type):
 * for each record of the dict `sockets`, found = owners.get(record.inode, ()), then exactly as attach_owners:
 * a record whose owners are already `found` stays; a record kept from an earlier dump (its observed_at set and not
 * `observed_at`) is replaced by with_owners(record, found) where they differ (its key appended to `copied` unless
 * None); any other record gets `found` stored into its slot, or raises ValueError if it has owners already.
 *
 * owner_layout(Owner) -> a capsule of the owner type and its slot offsets (pid, fd).
 *
 * owners_by_inode(owner_layout, pid, fds, inodes) -> {inode: (Owner(pid, fd), ...)} for the socket fds of a process
 * (the lists `fds` and `inodes` pair each fd with its socket inode, 0 for another file), each inode's owners in fd
 * order; None when `fds` is not ascending (the caller sorts).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "../slot_offset.h"

#define SOCKET_LAYOUT "netwatch.owners.socket_layout"
#define OWNER_LAYOUT "netwatch.owners.owner_layout"
#define SLOT(object, offset) (*(PyObject **)((char *)(object) + (offset)))

/* A record type and the offsets of the slots read or filled here, in the order of its names below. */
typedef struct {
    PyTypeObject *type; /* kept alive by the capsule's context */
    Py_ssize_t offsets[4];
} Layout;

static const char *SOCKET_SLOTS[] = {"inode", "owners", "observed_at", "key"};
enum { INODE, OWNERS, OBSERVED_AT, KEY };
static const char *OWNER_SLOTS[] = {"pid", "fd"};
enum { PID, FD };

static void free_layout(PyObject *capsule) {
    Py_XDECREF((PyObject *)PyCapsule_GetContext(capsule));
    PyMem_Free(PyCapsule_GetPointer(capsule, PyCapsule_GetName(capsule)));
}

/* The layout of `type` for the slots `names`, in a capsule named `kind` (each function takes its own kind). */
static PyObject *make_layout(PyObject *type, const char **names, int count, const char *kind) {
    if (!PyType_Check(type))
        return PyErr_Format(PyExc_TypeError, "a layout is made of a record type");
    Layout *compiled = PyMem_Malloc(sizeof(Layout));
    if (compiled == NULL)
        return PyErr_NoMemory();
    compiled->type = (PyTypeObject *)type;
    for (int i = 0; i < count; i++)
        if ((compiled->offsets[i] = slot_offset(compiled->type, names[i])) < 0) {
            PyMem_Free(compiled);
            return NULL;
        }
    PyObject *capsule = PyCapsule_New(compiled, kind, free_layout);
    if (capsule == NULL) {
        PyMem_Free(compiled);
        return NULL;
    }
    Py_INCREF(type);
    PyCapsule_SetContext(capsule, type);
    return capsule;
}

static PyObject *socket_layout(PyObject *self, PyObject *type) {
    return make_layout(type, SOCKET_SLOTS, 4, SOCKET_LAYOUT);
}

static PyObject *owner_layout(PyObject *self, PyObject *type) {
    return make_layout(type, OWNER_SLOTS, 2, OWNER_LAYOUT);
}

/* The slot's value (borrowed), or NULL with AttributeError set when it is empty. */
static PyObject *slot(PyObject *record, Py_ssize_t offset, const char *name) {
    PyObject *value = SLOT(record, offset);
    if (value == NULL)
        PyErr_Format(PyExc_AttributeError, "a record without %s", name);
    return value;
}

static PyObject *attach(PyObject *self, PyObject *args) {
    PyObject *capsule, *sockets, *owners, *observed_at, *copied, *with_owners;
    if (!PyArg_ParseTuple(args, "OO!O!OOO", &capsule, &PyDict_Type, &sockets, &PyDict_Type, &owners, &observed_at,
                          &copied, &with_owners))
        return NULL;
    Layout *layout = PyCapsule_GetPointer(capsule, SOCKET_LAYOUT);
    if (layout == NULL)
        return NULL;
    if (copied != Py_None && !PyList_Check(copied))
        return PyErr_Format(PyExc_TypeError, "copied must be a list or None");
    Py_ssize_t ownerless = 0, position = 0;
    PyObject *place, *sock;
    while (PyDict_Next(sockets, &position, &place, &sock))
        if (!Py_IS_TYPE(sock, layout->type)) /* its slots may be elsewhere: the caller's loop does it */
            Py_RETURN_NONE;
    PyObject *empty = PyTuple_New(0);
    if (empty == NULL)
        return NULL;
    position = 0;
    while (PyDict_Next(sockets, &position, &place, &sock)) {
        PyObject *inode = slot(sock, layout->offsets[INODE], "inode");
        PyObject *have = inode ? slot(sock, layout->offsets[OWNERS], "owners") : NULL;
        if (have == NULL)
            goto fail;
        PyObject *found = PyDict_GetItemWithError(owners, inode);
        if (found == NULL) {
            if (PyErr_Occurred())
                goto fail;
            found = empty;
        }
        Py_ssize_t found_count = PyTuple_Check(found) ? PyTuple_GET_SIZE(found) : PyObject_Length(found);
        if (found_count < 0)
            goto fail;
        if (found_count == 0 && inode != Py_None) {
            int truth = PyObject_IsTrue(inode);
            if (truth < 0)
                goto fail;
            ownerless += truth;
        }
        if (found == have)
            continue;
        PyObject *observed = slot(sock, layout->offsets[OBSERVED_AT], "observed_at");
        if (observed == NULL)
            goto fail;
        int kept = 0;
        if (observed_at != Py_None && observed != Py_None &&
            (kept = PyObject_RichCompareBool(observed, observed_at, Py_NE)) < 0)
            goto fail;
        if (kept) {
            int differ = PyObject_RichCompareBool(found, have, Py_NE);
            if (differ < 0)
                goto fail;
            if (differ) {
                PyObject *copy = PyObject_CallFunctionObjArgs(with_owners, sock, found, NULL);
                if (copy == NULL)
                    goto fail;
                int failed = PyDict_SetItem(sockets, place, copy); /* an existing key: the dict does not resize */
                Py_DECREF(copy);
                if (failed < 0 || (copied != Py_None && PyList_Append(copied, place) < 0))
                    goto fail;
            }
        } else if (found_count) {
            Py_ssize_t have_count = PyObject_Length(have);
            if (have_count < 0)
                goto fail;
            if (have_count) {
                PyObject *key = slot(sock, layout->offsets[KEY], "key");
                if (key != NULL)
                    PyErr_Format(PyExc_ValueError, "socket %R has owners already: a built record is never changed",
                                 key);
                goto fail;
            }
            Py_INCREF(found);
            Py_SETREF(SLOT(sock, layout->offsets[OWNERS]), found);
        }
    }
    Py_DECREF(empty);
    return PyLong_FromSsize_t(ownerless);
fail:
    Py_DECREF(empty);
    return NULL;
}

/* A new Owner(pid, fd), its slots filled directly (a frozen dataclass's __init__ costs ~1 us). */
static PyObject *new_owner(Layout *layout, PyObject *pid, PyObject *fd) {
    PyObject *owner = layout->type->tp_alloc(layout->type, 0);
    if (owner == NULL)
        return NULL;
    SLOT(owner, layout->offsets[PID]) = Py_NewRef(pid);
    SLOT(owner, layout->offsets[FD]) = Py_NewRef(fd);
    return owner;
}

static PyObject *owners_by_inode(PyObject *self, PyObject *args) {
    PyObject *capsule, *pid, *fds, *inodes;
    if (!PyArg_ParseTuple(args, "OO!O!O!", &capsule, &PyLong_Type, &pid, &PyList_Type, &fds, &PyList_Type, &inodes))
        return NULL;
    Layout *layout = PyCapsule_GetPointer(capsule, OWNER_LAYOUT);
    if (layout == NULL)
        return NULL;
    Py_ssize_t count = PyList_GET_SIZE(fds);
    if (PyList_GET_SIZE(inodes) != count)
        return PyErr_Format(PyExc_ValueError, "%zd fds but %zd inodes", count, PyList_GET_SIZE(inodes));
    long previous = -1;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *fd = PyList_GET_ITEM(fds, i);
        long number = PyLong_Check(fd) ? PyLong_AsLong(fd) : -1;
        if (number == -1 && PyErr_Occurred())
            return NULL;
        if (number <= previous) /* not ascending (or not an int): the caller's sorted loop */
            Py_RETURN_NONE;
        previous = number;
    }
    PyObject *by_inode = PyDict_New();
    if (by_inode == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *inode = PyList_GET_ITEM(inodes, i);
        int socket = PyObject_IsTrue(inode);
        if (socket < 0)
            goto fail;
        if (!socket)
            continue;
        PyObject *owner = new_owner(layout, pid, PyList_GET_ITEM(fds, i));
        if (owner == NULL)
            goto fail;
        PyObject *owners = PyDict_GetItemWithError(by_inode, inode); /* borrowed */
        PyObject *held;
        if (owners == NULL) {
            if (PyErr_Occurred()) {
                Py_DECREF(owner);
                goto fail;
            }
            held = PyTuple_Pack(1, owner);
        } else { /* a socket on several fds (dup): the owners so far, then this one */
            Py_ssize_t size = PyTuple_GET_SIZE(owners);
            held = PyTuple_New(size + 1);
            if (held != NULL) {
                for (Py_ssize_t j = 0; j < size; j++)
                    PyTuple_SET_ITEM(held, j, Py_NewRef(PyTuple_GET_ITEM(owners, j)));
                PyTuple_SET_ITEM(held, size, Py_NewRef(owner));
            }
        }
        Py_DECREF(owner);
        if (held == NULL)
            goto fail;
        int failed = PyDict_SetItem(by_inode, inode, held);
        Py_DECREF(held);
        if (failed < 0)
            goto fail;
    }
    return by_inode;
fail:
    Py_DECREF(by_inode);
    return NULL;
}

static PyMethodDef methods[] = {
    {"socket_layout", socket_layout, METH_O, "socket_layout(Socket) -> the slot offsets attach() uses"},
    {"attach", attach, METH_VARARGS,
     "attach(socket_layout, sockets, owners, observed_at, copied, with_owners) -> sockets with an inode but no owner"},
    {"owner_layout", owner_layout, METH_O, "owner_layout(Owner) -> the slot offsets owners_by_inode() uses"},
    {"owners_by_inode", owners_by_inode, METH_VARARGS,
     "owners_by_inode(owner_layout, pid, fds, inodes) -> {inode: (Owner, ...)} (None: fds not ascending)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_owners",
                                    "The compiled paths of owner records: attached by inode, made from an fd "
                                    "table.", -1, methods};

PyMODINIT_FUNC PyInit__owners(void) { return PyModule_Create(&module); }
