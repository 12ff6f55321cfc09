#include "common/listen.h"

#include <stdexcept>

namespace ferry {

void SetListenAddress(Config& config, std::string_view address) {
  auto colon = address.rfind(':');
  if (colon == std::string_view::npos) throw std::invalid_argument("--listen must be HOST:PORT");
  int port = std::stoi(std::string(address.substr(colon + 1)));
  if (port < 0 || port > 65535) throw std::invalid_argument("--listen port out of range");
  config.listen_host = std::string(address.substr(0, colon));
  config.listen_port = static_cast<std::uint16_t>(port);
}

}  // namespace ferry
