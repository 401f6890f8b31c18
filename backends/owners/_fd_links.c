/* The compiled fast path of proc_files.read_fd_inodes (optional: the pure-Python loop does the same): the links of a
 * process's fd directory read in C, with the GIL released, as the cold scan reads every fd of every process (~100,000
 * on a busy host) and Python's own work per link was a fifth of it.
 *
 * read(dir_fd) -> (fds, inodes, failures): the fd numbers of the open fd directory `dir_fd` (/proc/<pid>/fd), the
 * socket inode each links to ("socket:[<inode>]"; 0 for another file), and (position, errno) for each link that
 * readlinkat refused (its inode left 0, for the caller to judge). Raises OSError when the directory cannot be listed.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SOCKET_PREFIX "socket:["

typedef struct {
    long long fd, inode;
    int error; /* 0, or the errno readlinkat gave */
} Link;

typedef struct {
    Link *items;
    size_t count, size;
} Links;

static int grow(Links *links) {
    size_t size = links->size ? links->size * 2 : 64;
    Link *items = realloc(links->items, size * sizeof *items);
    if (items == NULL)
        return -1;
    links->items = items;
    links->size = size;
    return 0;
}

/* The socket inode a link's text names, or 0. */
static long long socket_inode(const char *text, ssize_t length) {
    size_t prefix = sizeof SOCKET_PREFIX - 1;
    if (length <= (ssize_t)prefix + 1 || memcmp(text, SOCKET_PREFIX, prefix) != 0 || text[length - 1] != ']')
        return 0;
    long long inode = 0;
    for (ssize_t i = (ssize_t)prefix; i < length - 1; i++) {
        if (text[i] < '0' || text[i] > '9' || inode > (LLONG_MAX - 9) / 10)
            return 0;
        inode = inode * 10 + (text[i] - '0');
    }
    return inode;
}

/* Read every link of the directory; returns 0, or the errno of a failed listing (-1: out of memory). */
static int read_links(int dir_fd, Links *links) {
    int listing = dup(dir_fd);
    if (listing < 0)
        return errno;
    DIR *directory = fdopendir(listing);
    if (directory == NULL) {
        int error = errno;
        close(listing);
        return error;
    }
    int result = 0;
    char target[256];
    for (;;) {
        errno = 0;
        struct dirent *entry = readdir(directory);
        if (entry == NULL) {
            result = errno;
            break;
        }
        const char *name = entry->d_name;
        if (name[0] < '0' || name[0] > '9') /* "." and ".." */
            continue;
        if (links->count == links->size && grow(links) < 0) {
            result = -1;
            break;
        }
        ssize_t length = readlinkat(dirfd(directory), name, target, sizeof target);
        Link *link = &links->items[links->count++];
        link->fd = strtoll(name, NULL, 10);
        link->error = length < 0 ? errno : 0;
        link->inode = length < 0 ? 0 : socket_inode(target, length);
    }
    closedir(directory);
    return result;
}

static PyObject *read_fd_links(PyObject *self, PyObject *arg) {
    long number = PyLong_AsLong(arg);
    if (number == -1 && PyErr_Occurred())
        return NULL;
    if (number < 0 || number > INT_MAX) {
        PyErr_SetString(PyExc_ValueError, "not a file descriptor");
        return NULL;
    }
    int dir_fd = (int)number;
    Links links = {0};
    int error;
    Py_BEGIN_ALLOW_THREADS
    error = read_links(dir_fd, &links);
    Py_END_ALLOW_THREADS
    PyObject *fds = NULL, *inodes = NULL, *failures = NULL, *result = NULL;
    if (error) {
        if (error < 0)
            PyErr_NoMemory();
        else {
            errno = error;
            PyErr_SetFromErrno(PyExc_OSError);
        }
        goto done;
    }
    if ((fds = PyList_New((Py_ssize_t)links.count)) == NULL || (inodes = PyList_New((Py_ssize_t)links.count)) == NULL ||
        (failures = PyList_New(0)) == NULL)
        goto done;
    for (size_t i = 0; i < links.count; i++) {
        Link *link = &links.items[i];
        PyObject *fd = PyLong_FromLongLong(link->fd), *inode = PyLong_FromLongLong(link->inode);
        if (fd == NULL || inode == NULL) {
            Py_XDECREF(fd);
            Py_XDECREF(inode);
            goto done;
        }
        PyList_SET_ITEM(fds, (Py_ssize_t)i, fd);
        PyList_SET_ITEM(inodes, (Py_ssize_t)i, inode);
        if (link->error) {
            PyObject *failure = Py_BuildValue("(ni)", (Py_ssize_t)i, link->error);
            if (failure == NULL || PyList_Append(failures, failure) < 0) {
                Py_XDECREF(failure);
                goto done;
            }
            Py_DECREF(failure);
        }
    }
    result = PyTuple_Pack(3, fds, inodes, failures);
done:
    Py_XDECREF(fds);
    Py_XDECREF(inodes);
    Py_XDECREF(failures);
    free(links.items);
    return result;
}

static PyMethodDef methods[] = {
    {"read", read_fd_links, METH_O,
     "read(dir_fd) -> (fds, inodes, failures): the links of an open /proc/<pid>/fd directory"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fd_links",
                                    "The compiled reader of an fd directory's links.", -1, methods};

PyMODINIT_FUNC PyInit__fd_links(void) { return PyModule_Create(&module); }
