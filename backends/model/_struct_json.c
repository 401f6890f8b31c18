/* The compiled fast path of TcpInfo.json (optional: the pure-Python one gives the same bytes).
 *
 * layout(fields) compiles a C struct's unsigned fields into a capsule; fields is a sequence of
 * (key, offset, size, shift, mask, clock): key the JSON key with its colon (b'"rtt":'), size 1, 2, 4 or 8 bytes
 * (native byte order), shift and mask a bitfield's place in its byte (mask 0: the whole value), clock true for
 * the fields that `moved` advances.
 *
 * encode(layout, raw, moved) -> the JSON object {key: value, ...} of the struct in `raw`, fields in the given
 * order, each clock field plus `moved` (a non-negative count of milliseconds). The socket JSON encoder writes a
 * tcp_info with the same layout itself (struct_json.h).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "../struct_json.h"

static void free_layout(PyObject *capsule) { PyMem_Free(PyCapsule_GetPointer(capsule, STRUCT_JSON_CAPSULE)); }

static PyObject *layout(PyObject *self, PyObject *arg) {
    PyObject *items = PySequence_Fast(arg, "layout() takes a sequence of fields");
    if (items == NULL)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(items);
    StructLayout *compiled = PyMem_Malloc(sizeof(StructLayout) + (size_t)count * sizeof(StructField));
    if (compiled == NULL) {
        Py_DECREF(items);
        return PyErr_NoMemory();
    }
    compiled->count = count;
    compiled->min_raw = 0;
    compiled->max_out = 2;
    for (Py_ssize_t i = 0; i < count; i++) {
        StructField *field = &compiled->fields[i];
        const char *key;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(items, i), "y#niiIp;a field is (key, offset, size, shift, "
                              "mask, clock)", &key, &field->key_len, &field->offset, &field->size, &field->shift,
                              &field->mask, &field->clock))
            goto fail;
        if (field->key_len >= (Py_ssize_t)sizeof(field->key) || field->offset < 0 ||
            (field->size != 1 && field->size != 2 && field->size != 4 && field->size != 8) || field->shift < 0 ||
            field->shift > 63) {
            PyErr_Format(PyExc_ValueError, "field %zd: bad key length, offset, size or shift", i);
            goto fail;
        }
        memcpy(field->key, key, (size_t)field->key_len);
        if (field->offset + field->size > compiled->min_raw)
            compiled->min_raw = field->offset + field->size;
        compiled->max_out += 1 + field->key_len + DIGITS_MAX;
    }
    Py_DECREF(items);
    PyObject *capsule = PyCapsule_New(compiled, STRUCT_JSON_CAPSULE, free_layout);
    if (capsule == NULL)
        PyMem_Free(compiled);
    return capsule;
fail:
    Py_DECREF(items);
    PyMem_Free(compiled);
    return NULL;
}

static PyObject *encode(PyObject *self, PyObject *args) {
    PyObject *capsule;
    Py_buffer raw;
    long long moved;
    if (!PyArg_ParseTuple(args, "Oy*L", &capsule, &raw, &moved))
        return NULL;
    StructLayout *compiled = PyCapsule_GetPointer(capsule, STRUCT_JSON_CAPSULE);
    PyObject *result = NULL;
    if (compiled == NULL)
        goto done;
    if (raw.len < compiled->min_raw || moved < 0) {
        PyErr_Format(PyExc_ValueError, "encode() needs %zd bytes and moved >= 0", compiled->min_raw);
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, compiled->max_out);
    if (result == NULL)
        goto done;
    char *start = PyBytes_AS_STRING(result);
    if (_PyBytes_Resize(&result, write_struct(compiled, raw.buf, moved, start) - start) < 0)
        result = NULL;
done:
    PyBuffer_Release(&raw);
    return result;
}

static PyMethodDef methods[] = {
    {"layout", layout, METH_O, "layout(fields) -> a compiled layout for encode()"},
    {"encode", encode, METH_VARARGS, "encode(layout, raw, moved) -> the JSON object of the struct in raw"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_struct_json",
                                    "The compiled encoder of a C struct's unsigned fields as a JSON object.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__struct_json(void) { return PyModule_Create(&module); }
