/* The offset of the object slot `name` (from __slots__) in instances of `type`, or -1 with TypeError set: how the
 * optional C extensions read and fill the fields of a slotted record without an attribute lookup. Included by each
 * of them (one definition; every extension is its own compilation unit). */
#ifndef NETWATCH_SLOT_OFFSET_H
#define NETWATCH_SLOT_OFFSET_H

#include <Python.h>
#include <structmember.h>

static Py_ssize_t slot_offset(PyTypeObject *type, const char *name) {
    PyObject *descriptor = PyObject_GetAttrString((PyObject *)type, name);
    if (descriptor == NULL)
        return -1;
    Py_ssize_t offset = -1;
    if (Py_IS_TYPE(descriptor, &PyMemberDescr_Type)) {
        PyMemberDef *member = ((PyMemberDescrObject *)descriptor)->d_member;
        if (member->type == T_OBJECT_EX)
            offset = member->offset;
    }
    Py_DECREF(descriptor);
    if (offset < 0)
        PyErr_Format(PyExc_TypeError, "%s.%s is not a slot", type->tp_name, name);
    return offset;
}

#endif
