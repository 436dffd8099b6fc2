#include <iostream>
#include <string>

enum State { LOCKED, UNLOCKED };

int main() {
    const std::string events[] = {"push", "coin", "push", "push", "coin", "coin", "push"};
    State state = LOCKED;
    int coins = 0;
    int passes = 0;
    for (const std::string& event : events) {
        if (state == LOCKED) {
            if (event == "coin") {
                ++coins;
                state = UNLOCKED;
            }
        } else {
            if (event == "push") {
                ++passes;
                state = LOCKED;
            } else {
                ++coins;
            }
        }
        std::cout << event << " -> " << (state == LOCKED ? "Locked" : "Unlocked") << std::endl;
    }
    std::cout << "Coins: " << coins << ", passes: " << passes << std::endl;
    return 0;
}
