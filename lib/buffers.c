/* SPDX-License-Identifier: MIT */
/* Data-buffer allocation: a LIFO stack of free indices plus a used bitmap. */
#include <stdlib.h>
#include "internal.h"

int unified_buffers_init(struct unified_ctx *ctx)
{
	uint32_t n = ctx->buf_entries, i;

	ctx->buf_stack = malloc((size_t)n * sizeof(uint32_t));
	ctx->buf_used = calloc((n + 63) / 64, sizeof(uint64_t));
	if (!ctx->buf_stack || !ctx->buf_used) {
		unified_buffers_fini(ctx);
		return unified_set_err(ENOMEM, "no memory for the buffer allocator");
	}
	/* Lowest offsets come out first. */
	for (i = 0; i < n; i++)
		ctx->buf_stack[i] = n - 1 - i;
	ctx->buf_top = n;
	return 0;
}

void unified_buffers_fini(struct unified_ctx *ctx)
{
	free(ctx->buf_stack);
	free(ctx->buf_used);
	ctx->buf_stack = NULL;
	ctx->buf_used = NULL;
}

UNIFIED_EXPORT int unified_buf_alloc(struct unified_ctx *ctx, uint64_t *off)
{
	uint32_t idx;
	int ret = unified_ctx_check(ctx, "unified_buf_alloc");

	if (ret)
		return ret;
	if (!off)
		return unified_set_err(EINVAL, "unified_buf_alloc: off is NULL");
	if (!ctx->buf_top)
		return unified_set_err(ENOBUFS, "all %u data buffers are in use", ctx->buf_entries);
	idx = ctx->buf_stack[--ctx->buf_top];
	ctx->buf_used[idx / 64] |= 1ull << (idx % 64);
	*off = (uint64_t)idx * ctx->buf_size;
	return 0;
}

UNIFIED_EXPORT int unified_buf_free(struct unified_ctx *ctx, uint64_t off)
{
	uint64_t idx;
	int ret = unified_ctx_check(ctx, "unified_buf_free");

	if (ret)
		return ret;
	if (off & (ctx->buf_size - 1) || off >= ctx->data_size)
		return unified_set_err(EINVAL, "offset 0x%llx is not the start of a data buffer",
				       (unsigned long long)off);
	idx = off / ctx->buf_size;
	if (!(ctx->buf_used[idx / 64] & (1ull << (idx % 64))))
		return unified_set_err(EALREADY, "buffer at offset 0x%llx is already free",
				       (unsigned long long)off);
	ctx->buf_used[idx / 64] &= ~(1ull << (idx % 64));
	ctx->buf_stack[ctx->buf_top++] = (uint32_t)idx;
	return 0;
}

UNIFIED_EXPORT void *unified_buf_ptr(const struct unified_ctx *ctx, uint64_t off)
{
	if (unified_ctx_check(ctx, "unified_buf_ptr"))
		return NULL;
	if (off >= ctx->data_size) {
		unified_set_err(EFAULT, "unified_buf_ptr: offset 0x%llx is outside the data area",
				(unsigned long long)off);
		return NULL;
	}
	return ctx->buffers + off;
}

UNIFIED_EXPORT int unified_buf_off(const struct unified_ctx *ctx, const void *ptr, uint64_t *off)
{
	uintptr_t p = (uintptr_t)ptr, b;
	int ret = unified_ctx_check(ctx, "unified_buf_off");

	if (ret)
		return ret;
	if (!off)
		return unified_set_err(EINVAL, "unified_buf_off: off is NULL");
	b = (uintptr_t)ctx->buffers;
	if (p < b || p - b >= ctx->data_size)
		return unified_set_err(EFAULT, "pointer %p is outside the data area %p + %llu",
				       ptr, (void *)b, (unsigned long long)ctx->data_size);
	*off = p - b;
	return 0;
}

UNIFIED_EXPORT uint32_t unified_buf_count(const struct unified_ctx *ctx)
{
	return unified_ctx_check(ctx, "unified_buf_count") ? 0 : ctx->buf_top;
}
