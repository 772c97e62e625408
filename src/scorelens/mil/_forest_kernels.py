"""The compiled tree builder of :mod:`scorelens.mil._forest` (numba; see that module for what it replays and how)."""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

#: The tree builder's EPSILON (``sklearn/tree/_tree.pyx``).
EPS = float(np.finfo(np.float64).eps)


#: Bits of each field of a rank bucket (samples, weight, class-1 weight): corpora of fewer
#: than 2^21 instances use the bucket scan, larger ones the radix sort.
FIELD = 21
_FIELD_MASK = (1 << FIELD) - 1


@intrinsic
def trailing_zeros(typingctx, word):
    """Index of the lowest set bit of a non-zero uint64 (LLVM's cttz: one instruction)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], cgutils.true_bit)     # true: undefined for 0 (never passed)

    return sig, codegen


@njit(cache=True, nogil=True)
def rand_int(low, high, state):
    # scikit-learn's our_rand_r (32-bit xorshift) and rand_int.
    s = state[0]
    if s == 0:
        s = np.uint64(1)
    s ^= (s << np.uint64(13)) & np.uint64(0xFFFFFFFF)
    s ^= s >> np.uint64(17)
    s ^= (s << np.uint64(5)) & np.uint64(0xFFFFFFFF)
    state[0] = s
    r = np.int64(s % np.uint64(0x80000000))
    return low + r % (high - low)


@njit(cache=True, nogil=True)
def insertion_sort(a, m):
    for i in range(1, m):
        x = a[i]
        j = i - 1
        while j >= 0 and a[j] > x:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = x


@njit(cache=True, nogil=True)
def radix_sort(a, tmp, m, digit, passes, count):
    # Stable LSD radix sort of a[:m] by the rank in bits 32 and up; returns the
    # buffer (a or tmp) that holds the result.
    src, dst = a, tmp
    mask = (1 << digit) - 1
    shift = 32
    for _ in range(passes):
        count[:mask + 2] = 0
        for q in range(m):
            count[((src[q] >> shift) & mask) + 1] += 1
        for b in range(1, mask + 2):
            count[b] += count[b - 1]
        for q in range(m):
            bucket = (src[q] >> shift) & mask
            dst[count[bucket]] = src[q]
            count[bucket] += 1
        src, dst = dst, src
        shift += digit
    return src


@njit(cache=True, nogil=True)
def gini(c0, c1, wn):
    sq = 0.0
    sq += c0 * c0
    sq += c1 * c1
    g = 0.0
    g += 1.0 - sq / (wn * wn)
    return g / 1.0


@njit(cache=True, nogil=True)
def grow(X, rank, value, apart, y, w, max_features, seed, small, digit, passes, keys, keys2, bucket, bitmap):
    n, d = X.shape
    thr = np.float32(1e-7)
    samples = np.empty(n, dtype=np.int64)
    m = 0
    wN = 0.0
    for i in range(n):
        if w[i] != 0.0:
            samples[m] = i
            m += 1
        wN += w[i]
    cap = 2 * m + 1
    left = np.full(cap, -1, dtype=np.int64)
    right = np.full(cap, -1, dtype=np.int64)
    feature = np.full(cap, -2, dtype=np.int64)
    threshold = np.full(cap, -2.0)
    impurity = np.zeros(cap)
    n_node = np.zeros(cap, dtype=np.int64)
    w_node = np.zeros(cap)
    miss_left = np.zeros(cap, dtype=np.uint8)
    val = np.zeros((cap, 2))
    features = np.arange(d).astype(np.int64)
    constant = np.empty(d, dtype=np.int64)
    # The depth-first builder's stack: start, end, depth, parent, is_left, n_constant (impurity apart).
    st_i = np.empty((cap, 6), dtype=np.int64)
    st_f = np.empty(cap)
    st_i[0, 0], st_i[0, 1], st_i[0, 2], st_i[0, 3], st_i[0, 4], st_i[0, 5] = 0, m, 0, -1, 0, 0
    st_f[0] = np.inf
    top = 1
    state = np.empty(1, dtype=np.uint64)
    state[0] = np.uint64(seed)
    count = np.empty((1 << digit) + 1, dtype=np.int64)
    # The division-free pre-test needs exact integer products: counts of at most 2^17
    # keep (count^2) * count below 2^53.
    exact = wN <= 131072.0
    wy = np.empty(n, dtype=np.int64)
    for i in range(n):
        wy[i] = (np.int64(w[i]) << 1) | np.int64(y[i])
    # A node of more than ``small`` samples whose ranks span few enough 64-bit words is
    # scanned through rank buckets instead of sorted: each sample adds (1 sample, its
    # count, its count if class 1) to its rank's bucket and sets the rank's bit; the
    # scan then visits the set bits in order. Counts are integers, so the per-rank sums
    # are the same numbers the sorted scan accumulates one sample at a time.
    buckets_ok = n < (1 << FIELD) and bitmap.shape[0] > 0       # empty buffers: always sort
    fmask = np.int64(_FIELD_MASK)
    n_words = bitmap.shape[0]
    packed = np.empty(n, dtype=np.int64)
    for i in range(n):
        packed[i] = (np.int64(1) << np.int64(2 * FIELD)) | (np.int64(w[i]) << FIELD) | (np.int64(w[i]) * np.int64(y[i]))
    n_nodes = 0
    max_depth_seen = -1
    first = True
    while top > 0:
        top -= 1
        start, end, depth = st_i[top, 0], st_i[top, 1], st_i[top, 2]
        parent, is_left, n_const = st_i[top, 3], st_i[top, 4], st_i[top, 5]
        imp = st_f[top]
        nn = end - start
        wn = 0.0
        t1 = 0.0
        t0 = 0.0
        for p in range(start, end):
            i = samples[p]
            if y[i] == 1:
                t1 += w[i]
            else:
                t0 += w[i]
            wn += w[i]
        is_leaf = nn < 2
        if first:
            imp = gini(t0, t1, wn)
            first = False
        is_leaf = is_leaf or imp <= EPS
        best_pos = end
        best_feat = -2
        best_thr = -2.0
        best_rank = np.int64(-1)
        best_wl = 0.0
        best_l1 = 0.0
        best_ml = 0
        imp_l = 0.0
        imp_r = 0.0
        improvement = 0.0
        if not is_leaf:
            f_i = d
            n_visited = 0
            n_found = 0
            n_drawn = 0
            n_known = n_const
            n_total = n_known
            best_proxy = -np.inf
            bound = -np.inf
            bound_q = -np.inf
            margin = 1e-9 * wn
            while f_i > n_total and (n_visited < max_features or n_visited <= n_found + n_drawn):
                n_visited += 1
                f_j = rand_int(n_drawn, f_i - n_found, state)
                if f_j < n_known:
                    tmp = features[n_drawn]
                    features[n_drawn] = features[f_j]
                    features[f_j] = tmp
                    n_drawn += 1
                    continue
                f_j += n_found
                f = features[f_j]
                near = apart[f] == 0
                # One pass over the node: rank buckets (nodes of more than ``small``
                # samples whose ranks span few enough bitmap words) or sort keys
                # (rank << 32 | bootstrap count << 1 | class), with the rank range.
                use_buckets = nn > small and buckets_ok and 4 * nn >= n_words
                r_lo = np.int64(n)
                r_hi = np.int64(-1)
                k = 0
                for p in range(start, end):
                    i = samples[p]
                    r = np.int64(rank[f, i])
                    if use_buckets:
                        bucket[r] += packed[i]
                        bitmap[r >> 6] |= np.uint64(1) << np.uint64(r & 63)
                    else:
                        keys[k] = (r << 32) | wy[i]
                        k += 1
                    r_lo = min(r_lo, r)
                    r_hi = max(r_hi, r)
                w_lo = r_lo >> 6
                w_hi = r_hi >> 6
                if value[f, r_hi] <= value[f, r_lo] + thr:
                    # A constant feature in this node (and below it): no split.
                    if use_buckets:
                        for wi in range(w_lo, w_hi + 1):
                            word = bitmap[wi]
                            bitmap[wi] = 0
                            while word != 0:
                                bucket[np.int64(wi << 6) + np.int64(trailing_zeros(word))] = 0
                                word &= word - np.uint64(1)
                    tmp = features[f_j]
                    features[f_j] = features[n_total]
                    features[n_total] = tmp
                    n_found += 1
                    n_total += 1
                    continue
                f_i -= 1
                tmp = features[f_i]
                features[f_i] = features[f_j]
                features[f_j] = tmp
                if use_buckets:
                    # Walk the ranks present in ascending order; a split is tried between
                    # each rank and the next one, with every sample of lower rank on the left.
                    cnt = np.int64(0)
                    cw = np.int64(0)
                    c1 = np.int64(0)
                    ra = np.int64(-1)
                    for wi in range(w_lo, w_hi + 1):
                        word = bitmap[wi]
                        bitmap[wi] = 0
                        while word != 0:
                            rb = np.int64(wi << 6) + np.int64(trailing_zeros(word))
                            word &= word - np.uint64(1)
                            b = bucket[rb]
                            bucket[rb] = 0
                            if ra >= 0 and not (near and value[f, rb] <= value[f, ra] + thr):
                                wl = np.float64(cw)
                                l1 = np.float64(c1)
                                wr = wn - wl
                                r1 = t1 - l1
                                if not (exact and l1 * l1 * wr + r1 * r1 * wl < bound_q * (wl * wr)):
                                    l0 = wl - l1
                                    r0 = t0 - l0
                                    il = gini(l0, l1, wl)
                                    ir_ = gini(r0, r1, wr)
                                    proxy = -wr * ir_ - wl * il
                                    if proxy > best_proxy:
                                        best_proxy = proxy
                                        bound = (proxy + wn) - margin
                                        bound_q = ((bound - wn) + 2.0 * t1) / 2.0
                                        best_pos = start + cnt
                                        best_feat = f
                                        best_thr = np.float64(value[f, ra]) / 2.0 + np.float64(value[f, rb]) / 2.0
                                        best_rank = ra
                                        best_wl = np.float64(cw)
                                        best_l1 = np.float64(c1)
                                        best_ml = 1 if cnt > (nn - cnt) else 0
                            cnt += b >> (2 * FIELD)
                            cw += (b >> FIELD) & fmask
                            c1 += b & fmask
                            ra = rb
                    continue
                # Otherwise the keys, sorted: by insertion in small nodes, by radix in the others.
                if nn <= small:
                    insertion_sort(keys, nn)
                    ks = keys
                else:
                    ks = radix_sort(keys, keys2, nn, digit, passes, count)
                wl = 0.0
                l1 = 0.0
                kq = ks[0]
                for q in range(nn - 1):
                    wq = np.float64((kq >> 1) & 0x7FFFFFFF)
                    wl += wq
                    if kq & 1:
                        l1 += wq
                    kn = ks[q + 1]
                    ra = kq >> 32
                    rb = kn >> 32
                    kq = kn
                    if rb == ra:
                        continue
                    if near and value[f, rb] <= value[f, ra] + thr:
                        continue
                    l0 = wl - l1
                    wr = wn - wl
                    r0 = t0 - l0
                    r1 = t1 - l1
                    # Up to the constant -wn, the proxy is (l0^2 + l1^2) / wl + (r0^2 + r1^2) / wr
                    # = wn - 2 t1 + 2 (l1^2 / wl + r1^2 / wr) (with l0 = wl - l1, r0 = wr - r1).
                    # With integer counts the left side of this test is an exact product, so
                    # a split whose value is clearly below the best one's (by far more than
                    # the proxy's rounding: ``margin``) is passed over without the divisions.
                    if exact and l1 * l1 * wr + r1 * r1 * wl < bound_q * (wl * wr):
                        continue
                    il = gini(l0, l1, wl)
                    ir = gini(r0, r1, wr)
                    proxy = -wr * ir - wl * il
                    if proxy > best_proxy:
                        best_proxy = proxy
                        bound = (proxy + wn) - margin
                        bound_q = ((bound - wn) + 2.0 * t1) / 2.0
                        best_pos = start + q + 1
                        best_feat = f
                        best_thr = np.float64(value[f, ra]) / 2.0 + np.float64(value[f, rb]) / 2.0
                        best_rank = ra
                        best_wl = wl
                        best_l1 = l1
                        best_ml = 1 if (q + 1) > (nn - q - 1) else 0
            if best_pos < end:
                # Partition (order inside each side is free: nothing depends on it). The
                # threshold lies strictly between the values of ranks best_rank and the
                # next rank present in the node, so "x <= threshold" is "rank <= best_rank";
                # the ranks' row stays in cache where X's column is a miss per sample.
                lo = start
                hi = end
                while lo < hi:
                    i = samples[lo]
                    if np.int64(rank[best_feat, i]) <= best_rank:
                        lo += 1
                    else:
                        hi -= 1
                        samples[lo] = samples[hi]
                        samples[hi] = i
                wl = best_wl
                l1 = best_l1
                l0 = wl - l1
                wr = wn - wl
                imp_l = gini(l0, l1, wl)
                imp_r = gini(t0 - l0, t1 - l1, wr)
                improvement = (wn / wN) * (imp - (wr / wn * imp_r) - (wl / wn * imp_l))
            for q in range(n_known):
                features[q] = constant[q]
            for q in range(n_known, n_known + n_found):
                constant[q] = features[q]
            n_const = n_total
            is_leaf = is_leaf or best_pos >= end or improvement + EPS < 0.0
        node = n_nodes
        n_nodes += 1
        if parent != -1:
            if is_left == 1:
                left[parent] = node
            else:
                right[parent] = node
        impurity[node] = imp
        n_node[node] = nn
        w_node[node] = wn
        val[node, 0] = t0 / wn
        val[node, 1] = t1 / wn
        if not is_leaf:
            feature[node] = best_feat
            threshold[node] = best_thr
            miss_left[node] = best_ml
            st_i[top, 0], st_i[top, 1], st_i[top, 2] = best_pos, end, depth + 1
            st_i[top, 3], st_i[top, 4], st_i[top, 5] = node, 0, n_const
            st_f[top] = imp_r
            top += 1
            st_i[top, 0], st_i[top, 1], st_i[top, 2] = start, best_pos, depth + 1
            st_i[top, 3], st_i[top, 4], st_i[top, 5] = node, 1, n_const
            st_f[top] = imp_l
            top += 1
        if depth > max_depth_seen:
            max_depth_seen = depth
    return (left[:n_nodes], right[:n_nodes], feature[:n_nodes], threshold[:n_nodes], impurity[:n_nodes],
            n_node[:n_nodes], w_node[:n_nodes], miss_left[:n_nodes], val[:n_nodes], max_depth_seen)
