/* A C struct's unsigned fields written as a JSON object, from a compiled layout: the layout _struct_json.layout()
 * makes (a capsule named STRUCT_JSON_CAPSULE), read by _struct_json.encode and, for a socket's tcp_info, straight by
 * the socket JSON encoder (_socket_json.c). Included by both (one definition; each extension is its own compilation
 * unit). */
#ifndef NETWATCH_STRUCT_JSON_H
#define NETWATCH_STRUCT_JSON_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

#define STRUCT_JSON_CAPSULE "netwatch.struct_json.layout"
#define DIGITS_MAX 21 /* a uint64_t plus a non-negative long long fits in 20 digits; one spare */

typedef struct {
    char key[64];
    Py_ssize_t key_len;
    Py_ssize_t offset;
    int size;
    int shift;
    unsigned mask;
    int clock;
} StructField;

typedef struct {
    Py_ssize_t count;
    Py_ssize_t min_raw; /* bytes a struct must have */
    Py_ssize_t max_out; /* bytes of the longest output */
    StructField fields[];
} StructLayout;

/* `value` in decimal at `out`; returns the end. (Most values are a digit or two: a table of digit pairs measured no
 * faster.) */
static inline char *write_decimal(char *out, unsigned long long value) {
    char digits[DIGITS_MAX];
    int n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    while (n)
        *out++ = digits[--n];
    return out;
}

/* The JSON object of the struct at `bytes` (at least layout->min_raw of them) at `out` (room for layout->max_out),
 * each clock field plus `moved` (>= 0 ms); returns the end. */
static inline char *write_struct(const StructLayout *layout, const unsigned char *bytes, long long moved, char *out) {
    *out++ = '{';
    for (Py_ssize_t i = 0; i < layout->count; i++) {
        const StructField *field = &layout->fields[i];
        unsigned long long value;
        if (field->size == 1) {
            value = bytes[field->offset];
        } else if (field->size == 2) {
            uint16_t v;
            memcpy(&v, bytes + field->offset, 2);
            value = v;
        } else if (field->size == 4) {
            uint32_t v;
            memcpy(&v, bytes + field->offset, 4);
            value = v;
        } else {
            uint64_t v;
            memcpy(&v, bytes + field->offset, 8);
            value = v;
        }
        if (field->mask)
            value = (value >> field->shift) & field->mask;
        if (field->clock)
            value += (unsigned long long)moved; /* a u32 plus a count of ms: no 64-bit overflow */
        if (i)
            *out++ = ',';
        memcpy(out, field->key, (size_t)field->key_len);
        out = write_decimal(out + field->key_len, value);
    }
    *out++ = '}';
    return out;
}

#endif
