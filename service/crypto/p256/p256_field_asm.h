// Internal to p256_field.h: arithmetic mod the P-256 prime in x86-64 inline
// assembly. FeMulAdx and FeSqrAdx use MULX (BMI2) and the two independent
// carry chains of ADCX/ADOX (ADX), and run only when the CPU reports both
// (g_use_adx in p256_field.h); FeAddAsm, FeSubAsm and FeHalfAsm use
// baseline x86-64 only. Same results as the portable C++ and the same constant-time
// behaviour (no branches, no secret-dependent addresses).
#ifndef POPGUARD_SERVICE_P256_FIELD_ASM_H_
#define POPGUARD_SERVICE_P256_FIELD_ASM_H_

#include <cstdint>

#if defined(__x86_64__) && defined(__GNUC__)
#define POPGUARD_P256_HAVE_ADX_ASM 1

namespace popguard::p256::field_internal {

// The assembly is aligned by hand, one instruction per line.
// clang-format off

// One step of the Montgomery reduction of the low half L0..L3 of a product
// (see FeReduce): q = L0, add q*p and drop L0. With p's shape that is q<<32
// into L1, q>>32 into L2, and q*p3 into L3 and a new top limb, which goes to
// L0's register: the state is then L1, L2, L3, L0. TMP is a scratch register.
#define POPGUARD_P256_REDUCE_STEP(L0, L1, L2, L3, TMP) \
  "movq " L0 ", %%rdx\n\t"                               \
  "mulxq %[p3], %%rax, %%rbx\n\t"                        \
  "movq " L0 ", " TMP "\n\t"                             \
  "shlq $32, " TMP "\n\t"                                \
  "shrq $32, " L0 "\n\t"                                 \
  "addq " TMP ", " L1 "\n\t"                             \
  "adcq " L0 ", " L2 "\n\t"                              \
  "adcq %%rax, " L3 "\n\t"                               \
  "adcq $0, %%rbx\n\t"                                   \
  "movq %%rbx, " L0 "\n\t"

// One row of the schoolbook product: adds a*b[i] (b[i] at byte offset BOFF)
// into T0..T3 and the fresh limb T4, the low halves on the OF chain (ADOX)
// and the high halves on the CF chain (ADCX), so the two run in parallel.
#define POPGUARD_P256_PRODUCT_ROW(BOFF, T0, T1, T2, T3, T4) \
  "movq " BOFF "(%[b]), %%rdx\n\t"                          \
  "xorl %%eax, %%eax\n\t"                                   \
  "mulxq 0(%[a]), %%rax, %%rbx\n\t"                         \
  "adoxq %%rax, " T0 "\n\t"                                 \
  "adcxq %%rbx, " T1 "\n\t"                                 \
  "mulxq 8(%[a]), %%rax, %%rbx\n\t"                         \
  "adoxq %%rax, " T1 "\n\t"                                 \
  "adcxq %%rbx, " T2 "\n\t"                                 \
  "mulxq 16(%[a]), %%rax, %%rbx\n\t"                        \
  "adoxq %%rax, " T2 "\n\t"                                 \
  "adcxq %%rbx, " T3 "\n\t"                                 \
  "mulxq 24(%[a]), %%rax, " T4 "\n\t"                       \
  "adoxq %%rax, " T3 "\n\t"                                 \
  "movl $0, %%eax\n\t"                                      \
  "adcxq %%rax, " T4 "\n\t"                                 \
  "adoxq %%rax, " T4 "\n\t"

// FeMulAdx sets out = a*b/2^256 mod p for a, b < p (limb arrays): the full
// 512-bit product in r8..r15, then four reduction steps on the low half and
// the addition of the high half (< 2p), then one conditional subtraction.
// (Product first, then reduction, has a shorter dependency chain than
// interleaving the two: 18 ns against 22 ns here.) `out` may alias `a` or
// `b`: it is written last.
inline void FeMulAdx(uint64_t out[4], const uint64_t a_in[4], const uint64_t b_in[4]) {
  static constexpr uint64_t kP1 = 0x00000000ffffffffull;
  static constexpr uint64_t kP3 = 0xffffffff00000001ull;
  // Copies the assembly may overwrite once the product is done: they serve
  // as scratch registers for the reduction.
  const uint64_t* a = a_in;
  const uint64_t* b = b_in;
  __asm__ volatile(
      "movq 0(%[b]), %%rdx\n\t"
      "mulxq 0(%[a]), %%r8, %%r9\n\t"
      "mulxq 8(%[a]), %%rax, %%r10\n\t"
      "addq %%rax, %%r9\n\t"
      "mulxq 16(%[a]), %%rax, %%r11\n\t"
      "adcq %%rax, %%r10\n\t"
      "mulxq 24(%[a]), %%rax, %%r12\n\t"
      "adcq %%rax, %%r11\n\t"
      "adcq $0, %%r12\n\t"
      POPGUARD_P256_PRODUCT_ROW("8", "%%r9", "%%r10", "%%r11", "%%r12", "%%r13")
      POPGUARD_P256_PRODUCT_ROW("16", "%%r10", "%%r11", "%%r12", "%%r13", "%%r14")
      POPGUARD_P256_PRODUCT_ROW("24", "%%r11", "%%r12", "%%r13", "%%r14", "%%r15")
      POPGUARD_P256_REDUCE_STEP("%%r8", "%%r9", "%%r10", "%%r11", "%[a]")
      POPGUARD_P256_REDUCE_STEP("%%r9", "%%r10", "%%r11", "%%r8", "%[a]")
      POPGUARD_P256_REDUCE_STEP("%%r10", "%%r11", "%%r8", "%%r9", "%[a]")
      POPGUARD_P256_REDUCE_STEP("%%r11", "%%r8", "%%r9", "%%r10", "%[a]")
      // Add the high half; the sum t < 2p has its top bit in rax. Subtract
      // p and keep t instead when that borrows.
      "movl $0, %%eax\n\t"
      "addq %%r12, %%r8\n\t"
      "adcq %%r13, %%r9\n\t"
      "adcq %%r14, %%r10\n\t"
      "adcq %%r15, %%r11\n\t"
      "adcq $0, %%rax\n\t"
      "movq %%r8, %%rbx\n\t"
      "movq %%r9, %[b]\n\t"
      "movq %%r10, %%rdx\n\t"
      "movq %%r11, %%r12\n\t"
      "subq $-1, %%rbx\n\t"
      "sbbq %[p1], %[b]\n\t"
      "sbbq $0, %%rdx\n\t"
      "sbbq %[p3], %%r12\n\t"
      "sbbq $0, %%rax\n\t"
      "cmovcq %%r8, %%rbx\n\t"
      "cmovcq %%r9, %[b]\n\t"
      "cmovcq %%r10, %%rdx\n\t"
      "cmovcq %%r11, %%r12\n\t"
      "movq %%rbx, 0(%[out])\n\t"
      "movq %[b], 8(%[out])\n\t"
      "movq %%rdx, 16(%[out])\n\t"
      "movq %%r12, 24(%[out])\n\t"
      // The limbs are read and written through the pointers; "memory" and
      // volatile say so (naming them as memory operands too would need more
      // address registers than are left).
      : [a] "+&r"(a), [b] "+&r"(b)
      : [out] "r"(out), [p1] "m"(kP1), [p3] "m"(kP3)
      : "rax", "rbx", "rdx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "cc",
        "memory");
}

#undef POPGUARD_P256_PRODUCT_ROW

// FeSqrAdx sets out = a^2/2^256 mod p for a < p: the six cross products once,
// doubled, plus the four squares (10 MULX instead of 16), then the reduction
// of FeReduce. `out` may alias `a`.
inline void FeSqrAdx(uint64_t out[4], const uint64_t a[4]) {
  static constexpr uint64_t kP1 = 0x00000000ffffffffull;
  static constexpr uint64_t kP3 = 0xffffffff00000001ull;
  __asm__ volatile(
      // Cross products a_i*a_j, i < j, into r9..r14 (limbs 1..6).
      "movq 0(%[a]), %%rdx\n\t"
      "mulxq 8(%[a]), %%r9, %%r10\n\t"
      "mulxq 16(%[a]), %%rax, %%r11\n\t"
      "addq %%rax, %%r10\n\t"
      "mulxq 24(%[a]), %%rax, %%r12\n\t"
      "adcq %%rax, %%r11\n\t"
      "adcq $0, %%r12\n\t"
      "movq 8(%[a]), %%rdx\n\t"
      "mulxq 16(%[a]), %%rax, %%rbx\n\t"
      "mulxq 24(%[a]), %%rcx, %%r13\n\t"
      "addq %%rax, %%r11\n\t"
      "adcq %%rbx, %%r12\n\t"
      "adcq $0, %%r13\n\t"
      "addq %%rcx, %%r12\n\t"
      "adcq $0, %%r13\n\t"
      "movq 16(%[a]), %%rdx\n\t"
      "mulxq 24(%[a]), %%rax, %%r14\n\t"
      "addq %%rax, %%r13\n\t"
      "adcq $0, %%r14\n\t"
      // Double them into r9..r15.
      "movl $0, %%r15d\n\t"
      "addq %%r9, %%r9\n\t"
      "adcq %%r10, %%r10\n\t"
      "adcq %%r11, %%r11\n\t"
      "adcq %%r12, %%r12\n\t"
      "adcq %%r13, %%r13\n\t"
      "adcq %%r14, %%r14\n\t"
      "adcq $0, %%r15\n\t"
      // Add the squares a_i^2 at limbs 2i, 2i+1; limb 0 goes to r8.
      "movq 0(%[a]), %%rdx\n\t"
      "mulxq %%rdx, %%r8, %%rbx\n\t"
      "addq %%rbx, %%r9\n\t"
      "movq 8(%[a]), %%rdx\n\t"
      "mulxq %%rdx, %%rax, %%rbx\n\t"
      "adcq %%rax, %%r10\n\t"
      "adcq %%rbx, %%r11\n\t"
      "movq 16(%[a]), %%rdx\n\t"
      "mulxq %%rdx, %%rax, %%rbx\n\t"
      "adcq %%rax, %%r12\n\t"
      "adcq %%rbx, %%r13\n\t"
      "movq 24(%[a]), %%rdx\n\t"
      "mulxq %%rdx, %%rax, %%rbx\n\t"
      "adcq %%rax, %%r14\n\t"
      "adcq %%rbx, %%r15\n\t"
      // Reduce the low half r8..r11; the state rotates back to r8..r11.
      POPGUARD_P256_REDUCE_STEP("%%r8", "%%r9", "%%r10", "%%r11", "%%rcx")
      POPGUARD_P256_REDUCE_STEP("%%r9", "%%r10", "%%r11", "%%r8", "%%rcx")
      POPGUARD_P256_REDUCE_STEP("%%r10", "%%r11", "%%r8", "%%r9", "%%rcx")
      POPGUARD_P256_REDUCE_STEP("%%r11", "%%r8", "%%r9", "%%r10", "%%rcx")
      // Add the high half r12..r15; the sum is < 2p.
      "movl $0, %%eax\n\t"
      "addq %%r12, %%r8\n\t"
      "adcq %%r13, %%r9\n\t"
      "adcq %%r14, %%r10\n\t"
      "adcq %%r15, %%r11\n\t"
      "adcq $0, %%rax\n\t"
      "movq %%r8, %%rbx\n\t"
      "movq %%r9, %%rcx\n\t"
      "movq %%r10, %%rdx\n\t"
      "movq %%r11, %%r12\n\t"
      "subq $-1, %%rbx\n\t"
      "sbbq %[p1], %%rcx\n\t"
      "sbbq $0, %%rdx\n\t"
      "sbbq %[p3], %%r12\n\t"
      "sbbq $0, %%rax\n\t"
      "cmovcq %%r8, %%rbx\n\t"
      "cmovcq %%r9, %%rcx\n\t"
      "cmovcq %%r10, %%rdx\n\t"
      "cmovcq %%r11, %%r12\n\t"
      "movq %%rbx, 0(%[out])\n\t"
      "movq %%rcx, 8(%[out])\n\t"
      "movq %%rdx, 16(%[out])\n\t"
      "movq %%r12, 24(%[out])\n\t"
      :
      : [out] "r"(out), [a] "r"(a), [p1] "m"(kP1), [p3] "m"(kP3)
      : "rax", "rbx", "rcx", "rdx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "cc",
        "memory");
}

#undef POPGUARD_P256_REDUCE_STEP

// FeAddAsm sets out = a + b mod p for a, b < p (baseline x86-64: ADD/ADC,
// then subtract p and keep the sum instead when that borrows).
inline void FeAddAsm(uint64_t out[4], const uint64_t a[4], const uint64_t b[4]) {
  static constexpr uint64_t kP1 = 0x00000000ffffffffull;
  static constexpr uint64_t kP3 = 0xffffffff00000001ull;
  uint64_t s0, s1, s2, s3, t0, t1, t2, t3, top;
  __asm__(
      "movl $0, %k[top]\n\t"
      "movq %[a0], %[s0]\n\t"
      "movq %[a1], %[s1]\n\t"
      "movq %[a2], %[s2]\n\t"
      "movq %[a3], %[s3]\n\t"
      "addq %[b0], %[s0]\n\t"
      "adcq %[b1], %[s1]\n\t"
      "adcq %[b2], %[s2]\n\t"
      "adcq %[b3], %[s3]\n\t"
      "adcq $0, %[top]\n\t"
      "movq %[s0], %[t0]\n\t"
      "movq %[s1], %[t1]\n\t"
      "movq %[s2], %[t2]\n\t"
      "movq %[s3], %[t3]\n\t"
      "subq $-1, %[t0]\n\t"
      "sbbq %[p1], %[t1]\n\t"
      "sbbq $0, %[t2]\n\t"
      "sbbq %[p3], %[t3]\n\t"
      "sbbq $0, %[top]\n\t"
      "cmovcq %[s0], %[t0]\n\t"
      "cmovcq %[s1], %[t1]\n\t"
      "cmovcq %[s2], %[t2]\n\t"
      "cmovcq %[s3], %[t3]\n\t"
      : [s0] "=&r"(s0), [s1] "=&r"(s1), [s2] "=&r"(s2), [s3] "=&r"(s3), [t0] "=&r"(t0),
        [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3), [top] "=&r"(top)
      : [a0] "m"(a[0]), [a1] "m"(a[1]), [a2] "m"(a[2]), [a3] "m"(a[3]), [b0] "m"(b[0]),
        [b1] "m"(b[1]), [b2] "m"(b[2]), [b3] "m"(b[3]), [p1] "m"(kP1), [p3] "m"(kP3)
      : "cc");
  out[0] = t0;
  out[1] = t1;
  out[2] = t2;
  out[3] = t3;
}

// FeSubAsm sets out = a - b mod p for a, b < p: subtract, then add p masked
// by the borrow.
inline void FeSubAsm(uint64_t out[4], const uint64_t a[4], const uint64_t b[4]) {
  static constexpr uint64_t kP3 = 0xffffffff00000001ull;
  uint64_t d0, d1, d2, d3, m0, m1, m3;
  __asm__(
      "movq %[a0], %[d0]\n\t"
      "movq %[a1], %[d1]\n\t"
      "movq %[a2], %[d2]\n\t"
      "movq %[a3], %[d3]\n\t"
      "subq %[b0], %[d0]\n\t"
      "sbbq %[b1], %[d1]\n\t"
      "sbbq %[b2], %[d2]\n\t"
      "sbbq %[b3], %[d3]\n\t"
      "sbbq %[m0], %[m0]\n\t"      // all ones iff a < b
      "movq %[m0], %[m1]\n\t"
      "shrq $32, %[m1]\n\t"        // p1 = 2^32 - 1, masked
      "movq %[p3], %[m3]\n\t"
      "andq %[m0], %[m3]\n\t"      // p3, masked
      "addq %[m0], %[d0]\n\t"      // p0 = 2^64 - 1, masked
      "adcq %[m1], %[d1]\n\t"
      "adcq $0, %[d2]\n\t"
      "adcq %[m3], %[d3]\n\t"
      : [d0] "=&r"(d0), [d1] "=&r"(d1), [d2] "=&r"(d2), [d3] "=&r"(d3), [m0] "=&r"(m0),
        [m1] "=&r"(m1), [m3] "=&r"(m3)
      : [a0] "m"(a[0]), [a1] "m"(a[1]), [a2] "m"(a[2]), [a3] "m"(a[3]), [b0] "m"(b[0]),
        [b1] "m"(b[1]), [b2] "m"(b[2]), [b3] "m"(b[3]), [p3] "m"(kP3)
      : "cc");
  out[0] = d0;
  out[1] = d1;
  out[2] = d2;
  out[3] = d3;
}

// FeHalfAsm sets out = a/2 mod p for a < p: add p when a is odd (making the
// 257-bit sum even), then shift right by one.
inline void FeHalfAsm(uint64_t out[4], const uint64_t a[4]) {
  static constexpr uint64_t kP3 = 0xffffffff00000001ull;
  uint64_t d0, d1, d2, d3, m0, m1, m3;
  __asm__(
      "movq %[a0], %[m0]\n\t"
      "andq $1, %[m0]\n\t"
      "negq %[m0]\n\t"              // all ones iff a is odd
      "movq %[m0], %[m1]\n\t"
      "shrq $32, %[m1]\n\t"         // p1 = 2^32 - 1, masked
      "movq %[p3], %[m3]\n\t"
      "andq %[m0], %[m3]\n\t"       // p3, masked
      "movq %[a0], %[d0]\n\t"
      "movq %[a1], %[d1]\n\t"
      "movq %[a2], %[d2]\n\t"
      "movq %[a3], %[d3]\n\t"
      "addq %[m0], %[d0]\n\t"       // p0 = 2^64 - 1, masked
      "adcq %[m1], %[d1]\n\t"
      "adcq $0, %[d2]\n\t"
      "adcq %[m3], %[d3]\n\t"
      "setc %b[m0]\n\t"             // bit 256 of the sum
      "shrdq $1, %[d1], %[d0]\n\t"
      "shrdq $1, %[d2], %[d1]\n\t"
      "shrdq $1, %[d3], %[d2]\n\t"
      "shrq $1, %[d3]\n\t"
      "shlq $63, %[m0]\n\t"
      "orq %[m0], %[d3]\n\t"
      : [d0] "=&r"(d0), [d1] "=&r"(d1), [d2] "=&r"(d2), [d3] "=&r"(d3), [m0] "=&q"(m0),
        [m1] "=&r"(m1), [m3] "=&r"(m3)
      : [a0] "m"(a[0]), [a1] "m"(a[1]), [a2] "m"(a[2]), [a3] "m"(a[3]), [p3] "m"(kP3)
      : "cc");
  out[0] = d0;
  out[1] = d1;
  out[2] = d2;
  out[3] = d3;
}

// clang-format on

}  // namespace popguard::p256::field_internal

#endif  // x86-64

#endif  // POPGUARD_SERVICE_P256_FIELD_ASM_H_
