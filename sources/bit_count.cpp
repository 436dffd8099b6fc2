#include <iostream>

int countSetBits(unsigned int value) {
    int count = 0;
    while (value != 0) {
        value &= value - 1;
        ++count;
    }
    return count;
}

int main() {
    const unsigned int values[] = {0u, 7u, 255u, 1023u, 12345u, 4294967295u};
    for (unsigned int v : values) {
        std::cout << v << " has " << countSetBits(v) << " set bits" << std::endl;
    }
    return 0;
}
