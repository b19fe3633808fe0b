# warden_proto_library(NAME IMPORT_DIR <dir> PROTOS <paths relative to dir> [GRPC])
# Generates C++ (and gRPC stubs with GRPC) into the build tree, keeping the
# proto paths: "warden/v1/admin.proto" becomes #include "warden/v1/admin.pb.h".
# protoc is called directly because CMake 3.25's protobuf_generate derives
# output paths from the source directory, which breaks nested packages.
function(warden_proto_library name)
  cmake_parse_arguments(ARG "GRPC" "IMPORT_DIR" "PROTOS" ${ARGN})
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${name}_gen)
  set(outputs)
  set(inputs)
  foreach(proto IN LISTS ARG_PROTOS)
    string(REGEX REPLACE "\\.proto$" "" base ${proto})
    list(APPEND outputs ${out}/${base}.pb.cc ${out}/${base}.pb.h)
    if(ARG_GRPC)
      list(APPEND outputs ${out}/${base}.grpc.pb.cc ${out}/${base}.grpc.pb.h)
    endif()
    list(APPEND inputs ${ARG_IMPORT_DIR}/${proto})
  endforeach()
  set(grpc_args)
  if(ARG_GRPC)
    set(grpc_args --grpc_out=${out} --plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>)
  endif()
  add_custom_command(
    OUTPUT ${outputs}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out}
    COMMAND protobuf::protoc -I ${ARG_IMPORT_DIR} -I ${Protobuf_INCLUDE_DIRS}
            --cpp_out=${out} ${grpc_args} ${ARG_PROTOS}
    WORKING_DIRECTORY ${ARG_IMPORT_DIR}
    DEPENDS ${inputs} protobuf::protoc
    COMMENT "Generating C++ from ${name} protos"
    VERBATIM)
  add_library(${name} STATIC ${outputs})
  target_include_directories(${name} SYSTEM PUBLIC ${out})
  target_link_libraries(${name} PUBLIC protobuf::libprotobuf gRPC::grpc++)
  target_compile_options(${name} PRIVATE -w)  # generated code is not ours to warn about
endfunction()
