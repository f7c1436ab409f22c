# vg_embed(<out.c> <symbol> <file>): <file>'s bytes as `const char <symbol>[]`, NUL-terminated,
# regenerated when the file changes (the web page and the OpenAPI document of vgen serve).
function(vg_embed out symbol file)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${file})
  file(READ ${file} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
  file(WRITE ${out}.tmp "/* generated from ${file} by cmake/embed.cmake */\nconst char ${symbol}[] = {\n${bytes}0x00};\n")
  configure_file(${out}.tmp ${out} COPYONLY)   # rewritten only when it changed
endfunction()
