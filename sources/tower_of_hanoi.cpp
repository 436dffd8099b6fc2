#include <iostream>

int moveCount = 0;

void hanoi(int disks, char from, char to, char via) {
    if (disks == 0) {
        return;
    }
    hanoi(disks - 1, from, via, to);
    std::cout << "Move disk " << disks << " from " << from << " to " << to << std::endl;
    ++moveCount;
    hanoi(disks - 1, via, to, from);
}

int main() {
    hanoi(3, 'A', 'C', 'B');
    std::cout << "Total moves: " << moveCount << std::endl;
    return 0;
}
