# mpk/pipe.h: Pipe and Connection.
mpk_test(pipe basic TIMEOUT 120)
mpk_test(pipe threads LABELS unit tsan TIMEOUT 60)
mpk_test(pipe seeds TIMEOUT 60)
mpk_test(pipe truncated DIR fault LABELS fault TIMEOUT 120)
