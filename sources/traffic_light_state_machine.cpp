#include <iostream>

enum class Light { Red, Green, Yellow };

const char* lightName(Light light) {
    switch (light) {
    case Light::Red: return "RED";
    case Light::Green: return "GREEN";
    case Light::Yellow: return "YELLOW";
    }
    return "UNKNOWN";
}

int duration(Light light) {
    switch (light) {
    case Light::Red: return 30;
    case Light::Green: return 25;
    case Light::Yellow: return 5;
    }
    return 0;
}

Light next(Light light) {
    switch (light) {
    case Light::Red: return Light::Green;
    case Light::Green: return Light::Yellow;
    case Light::Yellow: return Light::Red;
    }
    return Light::Red;
}

int main() {
    Light state = Light::Red;
    int elapsed = 0;
    for (int step = 1; step <= 7; ++step) {
        std::cout << "Step " << step << ": " << lightName(state)
                  << " for " << duration(state) << "s" << std::endl;
        elapsed += duration(state);
        state = next(state);
    }
    std::cout << "Elapsed time: " << elapsed << "s" << std::endl;
    return 0;
}
