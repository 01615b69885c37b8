# osprey_add_fatbins(<target> OUTPUT_DIR <dir> ARCHS <sm...> SOURCES <.cu...> [DEPENDS <headers...>])
# Compiles each source to <dir>/<name>.fatbin with SASS for every listed architecture and PTX for the last.
# (CMake 3.25 has no fatbin target property, so this calls nvcc through custom commands.)
function(osprey_add_fatbins target)
    cmake_parse_arguments(ARG "" "OUTPUT_DIR" "ARCHS;SOURCES;DEPENDS" ${ARGN})
    set(gencode "")
    foreach(arch IN LISTS ARG_ARCHS)
        list(APPEND gencode "-gencode=arch=compute_${arch},code=sm_${arch}")
    endforeach()
    list(GET ARG_ARCHS -1 newest)
    list(APPEND gencode "-gencode=arch=compute_${newest},code=compute_${newest}")

    set(outputs "")
    foreach(source IN LISTS ARG_SOURCES)
        get_filename_component(name "${source}" NAME_WE)
        set(output "${ARG_OUTPUT_DIR}/${name}.fatbin")
        set(deps "")
        foreach(dep IN LISTS ARG_DEPENDS)
            list(APPEND deps "${CMAKE_CURRENT_SOURCE_DIR}/${dep}")
        endforeach()
        add_custom_command(
            OUTPUT "${output}"
            COMMAND "${CMAKE_COMMAND}" -E make_directory "${ARG_OUTPUT_DIR}"
            COMMAND "${CMAKE_CUDA_COMPILER}" -fatbin -O3 -std=c++17 ${gencode}
                    -I "${CMAKE_CURRENT_SOURCE_DIR}" -o "${output}" "${CMAKE_CURRENT_SOURCE_DIR}/${source}"
            DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/${source}" ${deps}
            COMMENT "nvcc ${source} -> ${name}.fatbin"
            VERBATIM)
        list(APPEND outputs "${output}")
    endforeach()
    add_custom_target(${target} ALL DEPENDS ${outputs})
endfunction()
