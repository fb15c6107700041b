# Unit tests of auth, JWT and the websocket protocol state machines (owned by the auth helper;
# included from tests/server/CMakeLists.txt). They test server/src internals, hence the include.
liveql_test(NAME auth_test LABEL unit
            SOURCES ${CMAKE_CURRENT_LIST_DIR}/auth_test.cpp ${CMAKE_CURRENT_LIST_DIR}/jwt_test.cpp
            LIBS liveql_server OpenSSL::Crypto Boost::json)
target_include_directories(auth_test PRIVATE ${PROJECT_SOURCE_DIR}/server/src)
if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/ws_protocol_test.cpp)
  liveql_test(NAME ws_protocol_test LABEL unit
              SOURCES ${CMAKE_CURRENT_LIST_DIR}/ws_protocol_test.cpp
                      ${CMAKE_CURRENT_LIST_DIR}/json_limits_test.cpp
              LIBS liveql_server Boost::json)
  target_include_directories(ws_protocol_test PRIVATE ${PROJECT_SOURCE_DIR}/server/src)
endif()
