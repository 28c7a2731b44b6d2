# internal/robust.h (the library's one robust lock) and internal/spin.h.
mpk_test(robust rmutex LABELS unit fault tsan TIMEOUT 60)
