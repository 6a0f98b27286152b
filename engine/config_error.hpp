// A bad configuration value, named by its configuration key ("top-k", "eps", "micro-shards"), never by the
// way a user spelled it: the library does not know whether the value came from a command-line flag, a JSON
// config or a sweep grid. The caller that does know maps the key to that spelling (experiments/ turns a key
// into its flag). `subject` is the value the message is about, when it qualifies the key
// ("apgd-dlr" in "attack apgd-dlr: needs at least 3 classes"); `why` says what was expected.
// what() is "key: why" or "key subject: why".
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace moelab {

struct ConfigError : std::invalid_argument {
    ConfigError(std::string key_, std::string why_, std::string subject_ = {})
        : std::invalid_argument(key_ + (subject_.empty() ? "" : " " + subject_) + ": " + why_),
          key(std::move(key_)), subject(std::move(subject_)), why(std::move(why_)) {}
    std::string key, subject, why;
};

}  // namespace moelab
