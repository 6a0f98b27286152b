// moelab command line: the one place where a configuration key becomes the flag a user typed. The library
// names a bad value by its key (engine/config_error.hpp: "top-k"); every message that reaches the user goes
// through user_message, so the user reads the flag ("--top-k: must be in [1, experts = 4], got 5").
#pragma once

#include <exception>
#include <string>
#include <vector>

#include "engine/config_error.hpp"

namespace moelab::cli {

// Each configuration key is spelled as a flag with two dashes in front of it.
inline std::string flag_of_key(const std::string& key) { return "--" + key; }

// "a, b or c": a registry's names for a help text or an error.
inline std::string or_list(const std::vector<std::string>& names) {
    std::string s;
    for (std::size_t i = 0; i < names.size(); ++i) s += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
    return s;
}

// e.what(), with a ConfigError's key written as its flag.
inline std::string user_message(const std::exception& e) {
    if (const auto* c = dynamic_cast<const ConfigError*>(&e))
        return flag_of_key(c->key) + (c->subject.empty() ? "" : " " + c->subject) + ": " + c->why;
    return e.what();
}

}  // namespace moelab::cli
