#include <iostream>
#include <cstdint>

class Lcg {
public:
    explicit Lcg(std::uint32_t seed) : state_(seed) {}
    std::uint32_t next() {
        state_ = state_ * 1103515245u + 12345u;
        return (state_ >> 16) & 0x7FFFu;
    }

private:
    std::uint32_t state_;
};

int main() {
    Lcg generator(2024u);
    std::cout << "Dice rolls:";
    int total = 0;
    for (int i = 0; i < 10; ++i) {
        int roll = static_cast<int>(generator.next() % 6u) + 1;
        total += roll;
        std::cout << " " << roll;
    }
    std::cout << std::endl;
    std::cout << "Total: " << total << std::endl;
    return 0;
}
