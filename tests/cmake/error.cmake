mpk_test(error codes)
mpk_test(config env)
