# hp_embed_files(TARGET NAME DIR): compiles every file under DIR into TARGET as a table reachable
# through `const std::vector<hp::generated::EmbeddedFile>& <NAME>_files()` (path relative to DIR,
# bytes). The table is regenerated at build time whenever a file changes, so `hostplane` carries
# its web assets and needs nothing installed beside it.
set(HP_EMBED_FILES_SCRIPT "${CMAKE_CURRENT_LIST_FILE}")

function(hp_embed_files target name dir)
  file(GLOB_RECURSE files CONFIGURE_DEPENDS "${dir}/*")
  list(SORT files)
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${name}_files.cc")
  add_custom_command(
    OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND} -DHP_EMBED_DIR=${dir} -DHP_EMBED_NAME=${name} -DHP_EMBED_OUT=${out}
            -P "${HP_EMBED_FILES_SCRIPT}"
    DEPENDS ${files} "${HP_EMBED_FILES_SCRIPT}"
    COMMENT "Embedding ${dir} as ${name}_files()"
    VERBATIM)
  target_sources(${target} PRIVATE "${out}")
endfunction()

# Script mode (cmake -P): writes the generated source. Bytes are hex so any file is safe.
if(CMAKE_SCRIPT_MODE_FILE AND HP_EMBED_OUT)
  file(GLOB_RECURSE files "${HP_EMBED_DIR}/*")
  list(SORT files)
  set(body "// Generated from ${HP_EMBED_DIR} by hp_embed_files; do not edit.\n")
  string(APPEND body "#include <string_view>\n#include <vector>\n\nnamespace hp::generated {\n")
  string(APPEND body "struct EmbeddedFile {\n  std::string_view path;\n  std::string_view data;\n};\n\nnamespace {\n")
  set(table "")
  set(i 0)
  foreach(f ${files})
    file(RELATIVE_PATH rel "${HP_EMBED_DIR}" "${f}")
    file(READ "${f}" hex HEX)
    string(LENGTH "${hex}" hexlen)
    math(EXPR size "${hexlen} / 2")
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
    string(REGEX REPLACE "((0x..,){24})" "\\1\n" bytes "${bytes}")
    string(APPEND body "// ${rel}\nconst unsigned char k${i}[] = {\n${bytes}0};\n")
    string(APPEND table "      {\"${rel}\", std::string_view(reinterpret_cast<const char*>(k${i}), ${size})},\n")
    math(EXPR i "${i} + 1")
  endforeach()
  string(APPEND body "}  // namespace\n\nconst std::vector<EmbeddedFile>& ${HP_EMBED_NAME}_files() {\n")
  string(APPEND body "  static const std::vector<EmbeddedFile> kFiles = {\n${table}  };\n  return kFiles;\n}\n\n}  // namespace hp::generated\n")
  file(WRITE "${HP_EMBED_OUT}" "${body}")
endif()
