#include "protocol/json_append.h"

#include <boost/json.hpp>

namespace ferry::protocol {

void AppendEscapedJsonString(std::string& out, std::string_view s) {
  out.append(boost::json::serialize(boost::json::string_view(s.data(), s.size())));
}

}  // namespace ferry::protocol
