# Warnings for every mpk target: mpk_warnings(<target>)
set(MPK_C_WARNINGS -Wall -Wextra -Wshadow -Wstrict-prototypes
    -Wmissing-prototypes -Wpointer-arith -Wcast-align -Wformat=2
    -Wundef -Wvla)
set(MPK_CXX_WARNINGS -Wall -Wextra)
function(mpk_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:C>:${MPK_C_WARNINGS}>
    $<$<COMPILE_LANGUAGE:CXX>:${MPK_CXX_WARNINGS}>)
  if(MPK_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
