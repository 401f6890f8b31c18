/* The compiled fast path of records.attach_owners by inode (optional: the pure-Python loop does the same).
 *
 * layout(Socket) -> a capsule of the record type and the slot offsets it reads and writes (inode, owners,
 * observed_at, key).
 *
 * attach(layout, sockets, owners, observed_at, copied, with_owners) -> how many sockets with an inode have none
 * (None, having done nothing, when a value of `sockets` is not exactly of the record type):
 * for each record of the dict `sockets`, found = owners.get(record.inode, ()), then exactly as attach_owners:
 * a record whose owners are already `found` stays; a record kept from an earlier dump (its observed_at set and not
 * `observed_at`) is replaced by with_owners(record, found) where they differ (its key appended to `copied` unless
 * None); any other record gets `found` stored into its slot, or raises ValueError if it has owners already.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "../slot_offset.h"

#define CAPSULE_NAME "netwatch.attach.layout"

typedef struct {
    PyTypeObject *type; /* kept alive by the capsule's context */
    Py_ssize_t inode, owners, observed_at, key;
} Layout;

#define SLOT(object, offset) (*(PyObject **)((char *)(object) + (offset)))

static void free_layout(PyObject *capsule) {
    Py_XDECREF((PyObject *)PyCapsule_GetContext(capsule));
    PyMem_Free(PyCapsule_GetPointer(capsule, CAPSULE_NAME));
}

static PyObject *layout(PyObject *self, PyObject *type) {
    if (!PyType_Check(type))
        return PyErr_Format(PyExc_TypeError, "layout() takes the record type");
    Layout *compiled = PyMem_Malloc(sizeof(Layout));
    if (compiled == NULL)
        return PyErr_NoMemory();
    PyTypeObject *record = (PyTypeObject *)type;
    if ((compiled->inode = slot_offset(record, "inode")) < 0 || (compiled->owners = slot_offset(record, "owners")) < 0 ||
        (compiled->observed_at = slot_offset(record, "observed_at")) < 0 ||
        (compiled->key = slot_offset(record, "key")) < 0) {
        PyMem_Free(compiled);
        return NULL;
    }
    compiled->type = record;
    PyObject *capsule = PyCapsule_New(compiled, CAPSULE_NAME, free_layout);
    if (capsule == NULL) {
        PyMem_Free(compiled);
        return NULL;
    }
    Py_INCREF(type);
    PyCapsule_SetContext(capsule, type);
    return capsule;
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
    Layout *offsets = PyCapsule_GetPointer(capsule, CAPSULE_NAME);
    if (offsets == NULL)
        return NULL;
    if (copied != Py_None && !PyList_Check(copied))
        return PyErr_Format(PyExc_TypeError, "copied must be a list or None");
    Py_ssize_t ownerless = 0, position = 0;
    PyObject *place, *sock;
    while (PyDict_Next(sockets, &position, &place, &sock))
        if (!Py_IS_TYPE(sock, offsets->type)) /* its slots may be elsewhere: the caller's loop does it */
            Py_RETURN_NONE;
    PyObject *empty = PyTuple_New(0);
    if (empty == NULL)
        return NULL;
    position = 0;
    while (PyDict_Next(sockets, &position, &place, &sock)) {
        PyObject *inode = slot(sock, offsets->inode, "inode");
        PyObject *have = inode ? slot(sock, offsets->owners, "owners") : NULL;
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
        PyObject *observed = slot(sock, offsets->observed_at, "observed_at");
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
                PyObject *key = slot(sock, offsets->key, "key");
                if (key != NULL)
                    PyErr_Format(PyExc_ValueError, "socket %R has owners already: a built record is never changed",
                                 key);
                goto fail;
            }
            Py_INCREF(found);
            Py_SETREF(SLOT(sock, offsets->owners), found);
        }
    }
    Py_DECREF(empty);
    return PyLong_FromSsize_t(ownerless);
fail:
    Py_DECREF(empty);
    return NULL;
}

static PyMethodDef methods[] = {
    {"layout", layout, METH_O, "layout(Socket) -> the slot offsets attach() uses"},
    {"attach", attach, METH_VARARGS,
     "attach(layout, sockets, owners, observed_at, copied, with_owners) -> sockets with an inode but no owner"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_attach",
                                    "The compiled attaching of owners to socket records by inode.", -1, methods};

PyMODINIT_FUNC PyInit__attach(void) { return PyModule_Create(&module); }
